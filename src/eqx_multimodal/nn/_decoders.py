"""Decoders: a conditioning vector in, one example of a modality out.

Every decoder exposes `teacher_output(condition, target)`, what its training loss
compares with the target (the reconstruction itself, or next-token logits for text);
`eqx_multimodal.losses` turns that into the loss that fits the modality.
"""

from collections.abc import Sequence
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._types import Image, Logits, Tokens, Waveform
from .._validation import check_choice, check_int, check_real, check_shape
from ._base import AbstractDecoder, check_sampling
from ._layers import check_heads, make_stack, ResidualMLP, scan_stack, TransformerBlock
from ._signal import griffin_lim, num_frames, stft_magnitude


Condition = Float[Array, " d_in"]


class ImageDecoder(AbstractDecoder):
    """A residual MLP from the condition to every pixel, squashed into [0, 1].

    With `num_blocks=0` this is exactly the guide's text-to-image decoder
    (`Linear(d_in, hidden) -> relu -> Linear(hidden, H W C) -> sigmoid`).

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> ImageDecoder(8, (4, 4, 3), hidden=16, key=jr.key(0))(jnp.zeros(8)).shape
    (4, 4, 3)

    ```
    """

    mlp: ResidualMLP
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    d_in: int = eqx.field(static=True)
    modality: str = eqx.field(static=True)

    def __init__(
        self,
        d_in: int,
        image_shape: Sequence[int],
        *,
        hidden: int = 1024,
        num_blocks: int = 1,
        modality: str = "image",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_in`: the size of the conditioning vector.
        - `image_shape`: `(height, width, channels)` of the output.
        - `hidden`: keyword only. The width of the MLP.
        - `num_blocks`: keyword only. Residual blocks after the first layer.
        - `modality`: keyword only. What it makes (default `"image"`; any image-like
            modality of yours in [0, 1], such as a depth map).
        - `key`: keyword only. The key of the initialisation.
        """
        self.modality = modality
        self.d_in = check_int(d_in, "d_in")
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        check_int(hidden, "hidden")
        check_int(num_blocks, "num_blocks", minimum=0)
        self.mlp = ResidualMLP(d_in, hidden, int(np.prod(self.image_shape)), num_blocks, key=key)

    def __call__(
        self,
        condition: Condition,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Image:
        """The image, `(height, width, channels)` in [0, 1]; `key`, `greedy` and
        `temperature` are accepted for a uniform decoder interface (it is deterministic)."""
        del key, greedy, temperature
        return jax.nn.sigmoid(self.mlp(condition)).reshape(self.image_shape)

    def teacher_output(self, condition: Condition, target: Image) -> Image:
        del target
        return self(condition)


class AudioDecoder(AbstractDecoder):
    """A residual MLP from the condition to every audio sample, squashed into [-1, 1].

    With `num_blocks=0` this is exactly the guide's text-to-audio decoder.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> AudioDecoder(8, 100, hidden=16, key=jr.key(0))(jnp.zeros(8)).shape
    (100,)

    ```
    """

    mlp: ResidualMLP
    num_samples: int = eqx.field(static=True)
    d_in: int = eqx.field(static=True)
    modality: ClassVar[str] = "audio"

    def __init__(
        self,
        d_in: int,
        num_samples: int,
        *,
        hidden: int = 1024,
        num_blocks: int = 1,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_in`: the size of the conditioning vector.
        - `num_samples`: the length of the output waveform.
        - `hidden`: keyword only. The width of the MLP.
        - `num_blocks`: keyword only. Residual blocks after the first layer.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_in = check_int(d_in, "d_in")
        self.num_samples = check_int(num_samples, "num_samples")
        check_int(hidden, "hidden")
        check_int(num_blocks, "num_blocks", minimum=0)
        self.mlp = ResidualMLP(d_in, hidden, self.num_samples, num_blocks, key=key)

    def __call__(
        self,
        condition: Condition,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Waveform:
        """The waveform, `(num_samples,)` in [-1, 1]; `key`, `greedy` and `temperature` are
        accepted for a uniform decoder interface (it is deterministic)."""
        del key, greedy, temperature
        return jnp.tanh(self.mlp(condition))

    def teacher_output(self, condition: Condition, target: Waveform) -> Waveform:
        del target
        return self(condition)


#: The floor inside the log of `SpectrogramDecoder`'s magnitudes.
SPECTRAL_FLOOR = 1e-3


class SpectrogramDecoder(AbstractDecoder):
    """A residual MLP from the condition to a log-magnitude STFT, and the waveform made
    from it by Griffin-Lim inside the same compiled function.

    Trained with a spectral loss: `teacher_output` is the log-magnitude spectrogram and
    `training_target(target)` the target's, `log(1e-3 + |STFT|)` of the centred Hann STFT
    (`stft_magnitude`), by default rolled so that the sound sits mid-clip. A
    spectrogram carries no phase, so the decoder never averages
    phases into a blur as a waveform MLP does; the phase is reconstructed by
    `griffin_lim` (fast Griffin-Lim, a fixed number of iterations). The waveform is
    clipped to [-1, 1].

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> decoder = SpectrogramDecoder(8, 1000, n_fft=64, hop_length=16, hidden=16, key=jr.key(0))
    >>> decoder(jnp.zeros(8)).shape, decoder.teacher_output(jnp.zeros(8), jnp.zeros(1000)).shape
    ((1000,), (63, 33))

    ```
    """

    mlp: ResidualMLP
    num_samples: int = eqx.field(static=True)
    n_fft: int = eqx.field(static=True)
    hop_length: int = eqx.field(static=True)
    iterations: int = eqx.field(static=True)
    centre: bool = eqx.field(static=True)
    d_in: int = eqx.field(static=True)
    modality: ClassVar[str] = "audio"

    def __init__(
        self,
        d_in: int,
        num_samples: int,
        *,
        n_fft: int = 512,
        hop_length: int = 128,
        hidden: int = 256,
        num_blocks: int = 1,
        iterations: int = 32,
        centre: bool = True,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_in`: the size of the conditioning vector.
        - `num_samples`: the length of the output waveform.
        - `n_fft`, `hop_length`: keyword only. The STFT; the hop at most `n_fft // 2`.
        - `hidden`: keyword only. The width of the MLP.
        - `num_blocks`: keyword only. Residual blocks after the first layer.
        - `iterations`: keyword only. Griffin-Lim iterations.
        - `centre`: keyword only. Train on the targets' `centred` spectrograms: the
            sound made sits in the middle of its clip.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_in = check_int(d_in, "d_in")
        self.centre = bool(centre)
        self.num_samples = check_int(num_samples, "num_samples")
        self.n_fft = check_int(n_fft, "n_fft", minimum=2)
        self.hop_length = check_int(hop_length, "hop_length")
        if self.hop_length > self.n_fft // 2:
            raise ValueError(
                f"`hop_length` must be at most n_fft // 2 = {self.n_fft // 2} (the windows "
                f"must overlap for the inverse STFT), got {hop_length}"
            )
        self.iterations = check_int(iterations, "iterations", minimum=0)
        check_int(hidden, "hidden")
        check_int(num_blocks, "num_blocks", minimum=0)
        size = self.frames * (self.n_fft // 2 + 1)
        self.mlp = ResidualMLP(d_in, hidden, size, num_blocks, key=key)

    @property
    def frames(self) -> int:
        """Frames of the spectrogram."""
        return num_frames(self.num_samples, self.n_fft, self.hop_length)

    def spectrogram(self, wave: Waveform) -> Float[Array, "frames freqs"]:
        """What the loss compares `teacher_output` with: `log(1e-3 + |STFT(wave)|)`."""
        magnitude = stft_magnitude(wave, n_fft=self.n_fft, hop_length=self.hop_length)
        return jnp.log(SPECTRAL_FLOOR + magnitude)

    def centred(self, spectrogram: Float[Array, "frames freqs"]) -> Float[Array, "frames freqs"]:
        """`spectrogram` rolled in time so that its energy centroid falls on the middle
        frame (the edges it wraps are the clip's quiet ends)."""
        power = jnp.mean(jnp.exp(2 * spectrogram), axis=1)
        frames = jnp.arange(self.frames, dtype=power.dtype)
        centroid = jnp.sum(frames * power) / jnp.maximum(jnp.sum(power), 1e-12)
        shift = jnp.round(self.frames // 2 - centroid).astype(jnp.int32)
        return jnp.roll(spectrogram, shift, axis=0)

    def training_target(self, wave: Waveform) -> Float[Array, "frames freqs"]:
        """What the loss compares `teacher_output` with: `spectrogram(wave)`, `centred`
        when the decoder centres (a sound's place in its clip is a nuisance no source
        tells: learning it averages the places into a quiet smear)."""
        spectrogram = self.spectrogram(wave)
        return self.centred(spectrogram) if self.centre else spectrogram

    def teacher_output(
        self, condition: Condition, target: Waveform
    ) -> Float[Array, "frames freqs"]:
        """The log-magnitude spectrogram, `(frames, n_fft // 2 + 1)`."""
        del target
        return self.mlp(condition).reshape(self.frames, self.n_fft // 2 + 1)

    def loss(self, output: Float[Array, "frames freqs"], target: Waveform) -> Float[Array, ""]:
        """The mean squared error of the log-magnitude spectrogram against
        `training_target(target)`."""
        return jnp.mean((output - self.training_target(target)) ** 2)

    def __call__(
        self,
        condition: Condition,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Waveform:
        """The waveform, `(num_samples,)` in [-1, 1]; `key`, `greedy` and `temperature` are
        accepted for a uniform decoder interface (it is deterministic)."""
        del key, greedy, temperature
        log_magnitude = self.teacher_output(condition, jnp.zeros(self.num_samples))
        magnitude = jnp.maximum(jnp.exp(log_magnitude) - SPECTRAL_FLOOR, 0.0)
        wave = griffin_lim(
            magnitude,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            length=self.num_samples,
            iterations=self.iterations,
        )
        return jnp.clip(wave, -1.0, 1.0)


class TextDecoder(AbstractDecoder):
    """An autoregressive transformer decoder of token sequences, conditioned on a vector.

    The condition, projected to the model width, is the first position; token `i`
    is predicted at position `i` from the condition and tokens `0 .. i-1` (causal
    attention). Training is teacher-forced (`teacher_output` gives the logits of every
    position in one pass); decoding runs `jax.lax.scan` over positions, each step
    conditioned on the tokens chosen before it, greedily or by sampling with a
    temperature and an optional top-k from an explicit key.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> decoder = TextDecoder(8, 50, 6, width=16, key=jr.key(0))
    >>> decoder(jnp.zeros(8), key=jr.key(1)).shape, decoder(jnp.zeros(8), greedy=True).dtype
    ((6,), dtype('int32'))

    ```
    """

    condition_proj: eqx.nn.Linear
    token_embedding: eqx.nn.Embedding
    position_embedding: eqx.nn.Embedding
    blocks: TransformerBlock
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    max_length: int = eqx.field(static=True)
    vocab_size: int = eqx.field(static=True)
    d_in: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"

    def __init__(
        self,
        d_in: int,
        vocab_size: int,
        max_length: int,
        *,
        width: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_in`: the size of the conditioning vector.
        - `vocab_size`: tokens are in `[0, vocab_size)`.
        - `max_length`: the longest sequence decoded.
        - `width`, `num_layers`, `num_heads`, `mlp_ratio`, `dropout`: keyword only. The
            transformer; `width` must divide by `num_heads`.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_in = check_int(d_in, "d_in")
        self.vocab_size = check_int(vocab_size, "vocab_size")
        self.max_length = check_int(max_length, "max_length")
        check_int(width, "width")
        check_int(num_layers, "num_layers")
        check_heads(width, num_heads, "width")
        check_real(dropout, "dropout", low=0.0, high=1.0)
        keys = jr.split(key, 5)
        self.condition_proj = eqx.nn.Linear(d_in, width, key=keys[0])
        self.token_embedding = eqx.nn.Embedding(vocab_size, width, key=keys[1])
        self.position_embedding = eqx.nn.Embedding(max_length, width, key=keys[2])
        self.blocks = make_stack(
            lambda k: TransformerBlock(width, num_heads, mlp_ratio, dropout, key=k),
            num_layers,
            keys[3],
        )
        self.norm = eqx.nn.LayerNorm(width)
        self.head = eqx.nn.Linear(width, vocab_size, key=keys[4])

    def teacher_output(
        self,
        condition: Condition,
        target: Tokens,
        *,
        key: PRNGKeyArray | None = None,
        inference: bool = True,
    ) -> Logits:
        """The logits of every position given the true previous tokens, `(seq, vocab)`."""
        length = target.shape[0]
        if length > self.max_length:
            raise ValueError(
                f"`target` has length {length}, longer than max_length={self.max_length}"
            )
        previous = jax.vmap(self.token_embedding)(target[:-1])
        x = jnp.concatenate([self.condition_proj(condition)[None], previous])
        x = x + jax.vmap(self.position_embedding)(jnp.arange(length))
        causal = jnp.tril(jnp.ones((length, length), bool))
        x = scan_stack(
            self.blocks,
            x,
            lambda block, h, k: block(h, causal, key=k, inference=inference),
            key=key,
        )
        return jax.vmap(lambda h: self.head(self.norm(h)))(x)

    def decode(
        self,
        condition: Condition,
        *,
        method: Literal["greedy", "sample"] = "greedy",
        key: PRNGKeyArray | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        length: int | None = None,
    ) -> Tokens:
        """Generate a token sequence.

        **Arguments:**

        - `condition`: the conditioning vector.
        - `method`: keyword only. `"greedy"` (argmax at every step) or `"sample"`.
        - `key`: keyword only. Required for `"sample"`.
        - `temperature`: keyword only. > 0; divides the logits before sampling.
        - `top_k`: keyword only. Sample among the `top_k` most likely tokens only.
        - `length`: keyword only. Tokens to generate (default `max_length`).

        **Returns:**

        int32 tokens, `(length,)`.
        """
        check_choice(method, "method", ("greedy", "sample"))
        if method == "sample" and key is None:
            raise ValueError("`key` is required when method='sample'; pass key=...")
        check_real(temperature, "temperature", low=0.0, low_open=True)
        length = self.max_length if length is None else check_int(length, "length")
        if length > self.max_length:
            raise ValueError(f"`length` must be <= max_length={self.max_length}, got {length}")
        if top_k is not None:
            top_k = min(check_int(top_k, "top_k"), self.vocab_size)
        keys = jr.split(key, length) if key is not None else jnp.zeros(length)

        def step(tokens, inputs):
            position, step_key = inputs
            logits = self.teacher_output(condition, tokens)[position]
            if method == "greedy":
                token = jnp.argmax(logits)
            else:
                logits = logits / temperature
                if top_k is not None:
                    threshold = jnp.sort(logits)[-top_k]
                    logits = jnp.where(logits < threshold, -jnp.inf, logits)
                token = jr.categorical(step_key, logits)
            return tokens.at[position].set(token.astype(jnp.int32)), None

        tokens = jnp.zeros(length, jnp.int32)
        tokens, _ = jax.lax.scan(step, tokens, (jnp.arange(length), keys))
        return tokens

    def __call__(
        self,
        condition: Condition,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Tokens:
        """Sampling at `temperature` (default 1) with `key`; greedy decoding with
        `greedy=True`. Without either it raises: greedy decoding is an explicit choice."""
        check_sampling(key, greedy, "TextDecoder")
        if greedy:
            return self.decode(condition, method="greedy")
        return self.decode(condition, method="sample", key=key, temperature=temperature)


class TokenBagDecoder(AbstractDecoder):
    """One categorical distribution over the vocabulary, shared by every position.

    The right decoder for i.i.d. tokens (the synthetic text): the training loss is
    the token cross-entropy of every position against the same logits. Use
    `TextDecoder` for sequences whose tokens depend on each other.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> TokenBagDecoder(8, 50, 6, hidden=16, key=jr.key(0))(jnp.zeros(8), key=jr.key(1)).shape
    (6,)

    ```
    """

    mlp: ResidualMLP
    seq_length: int = eqx.field(static=True)
    d_in: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"

    def __init__(
        self,
        d_in: int,
        vocab_size: int,
        seq_length: int,
        *,
        hidden: int = 256,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_in`: the size of the conditioning vector.
        - `vocab_size`: tokens are in `[0, vocab_size)`.
        - `seq_length`: the tokens a sequence.
        - `hidden`: keyword only. The width of the MLP.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_in = check_int(d_in, "d_in")
        check_int(vocab_size, "vocab_size")
        self.seq_length = check_int(seq_length, "seq_length")
        check_int(hidden, "hidden")
        self.mlp = ResidualMLP(d_in, hidden, vocab_size, 1, key=key)

    def logits(self, condition: Condition) -> Float[Array, " vocab"]:
        """The logits of every position."""
        return self.mlp(condition)

    def teacher_output(self, condition: Condition, target: Tokens) -> Logits:
        return jnp.broadcast_to(
            self.logits(condition), (target.shape[0], self.mlp.output.out_features)
        )

    def __call__(
        self,
        condition: Condition,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Tokens:
        """i.i.d. draws with `key` (the logits divided by `temperature`); the most likely
        token at every position with `greedy=True`. Without either it raises."""
        check_sampling(key, greedy, "TokenBagDecoder")
        check_real(temperature, "temperature", low=0.0, low_open=True)
        logits = self.logits(condition)
        if greedy:
            return jnp.full(self.seq_length, jnp.argmax(logits), jnp.int32)
        assert key is not None
        return jr.categorical(key, logits / temperature, shape=(self.seq_length,)).astype(jnp.int32)

"""Decoders and cross-modal generators: any encoder composed with any decoder.

Every decoder maps a conditioning vector to one example of its modality and exposes
`teacher_output(condition, target)`, what its training loss compares with the target
(the reconstruction itself, or next-token logits for text); `eqx_multimodal.losses`
turns that into the loss that fits the modality.
"""

from collections.abc import Sequence
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._types import Image, Logits, Tokens, Waveform
from .._validation import check_choice, check_int, check_real, check_shape
from ..data._config import SyntheticConfig
from ._encoders import AudioEncoder, ImageEncoder, TextEncoder
from ._layers import make_stack, ResidualMLPBlock, scan_stack, TransformerBlock


Condition = Float[Array, " d_in"]


class _ResidualMLP(eqx.Module):
    """`d_in -> hidden -> [residual blocks] -> d_out`."""

    input: eqx.nn.Linear
    blocks: tuple[ResidualMLPBlock, ...]
    output: eqx.nn.Linear

    def __init__(self, d_in: int, hidden: int, d_out: int, num_blocks: int, *, key):
        input_key, output_key, *block_keys = jr.split(key, 2 + num_blocks)
        self.input = eqx.nn.Linear(d_in, hidden, key=input_key)
        self.blocks = tuple(ResidualMLPBlock(hidden, hidden, key=k) for k in block_keys)
        self.output = eqx.nn.Linear(hidden, d_out, key=output_key)

    def __call__(self, x: Float[Array, " d_in"]) -> Float[Array, " d_out"]:
        h = jax.nn.relu(self.input(x))
        for block in self.blocks:
            h = block(h)
        return self.output(h)


class ImageDecoder(eqx.Module):
    """A residual MLP from the condition to every pixel, squashed into [0, 1].

    With `num_blocks=0` this is exactly the guide's text-to-image decoder
    (`Linear(d_in, hidden) -> relu -> Linear(hidden, H W C) -> sigmoid`).
    """

    mlp: _ResidualMLP
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    modality: str = eqx.field(static=True, default="image")

    def __init__(
        self,
        d_in: int,
        image_shape: Sequence[int],
        *,
        hidden: int = 1024,
        num_blocks: int = 1,
        key: PRNGKeyArray,
    ):
        check_int(d_in, "d_in")
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        check_int(hidden, "hidden")
        check_int(num_blocks, "num_blocks", minimum=0)
        self.mlp = _ResidualMLP(d_in, hidden, int(np.prod(self.image_shape)), num_blocks, key=key)

    def __call__(self, condition: Condition, *, key: PRNGKeyArray | None = None) -> Image:
        del key
        return jax.nn.sigmoid(self.mlp(condition)).reshape(self.image_shape)

    def teacher_output(self, condition: Condition, target: Image) -> Image:
        del target
        return self(condition)


class AudioDecoder(eqx.Module):
    """A residual MLP from the condition to every audio sample, squashed into [-1, 1].

    With `num_blocks=0` this is exactly the guide's text-to-audio decoder.
    """

    mlp: _ResidualMLP
    num_samples: int = eqx.field(static=True)
    modality: str = eqx.field(static=True, default="audio")

    def __init__(
        self,
        d_in: int,
        num_samples: int,
        *,
        hidden: int = 1024,
        num_blocks: int = 1,
        key: PRNGKeyArray,
    ):
        check_int(d_in, "d_in")
        self.num_samples = check_int(num_samples, "num_samples")
        check_int(hidden, "hidden")
        check_int(num_blocks, "num_blocks", minimum=0)
        self.mlp = _ResidualMLP(d_in, hidden, self.num_samples, num_blocks, key=key)

    def __call__(self, condition: Condition, *, key: PRNGKeyArray | None = None) -> Waveform:
        del key
        return jnp.tanh(self.mlp(condition))

    def teacher_output(self, condition: Condition, target: Waveform) -> Waveform:
        del target
        return self(condition)


class TextDecoder(eqx.Module):
    """An autoregressive transformer decoder of token sequences, conditioned on a vector.

    The condition, projected to the model width, is the first position; token `i`
    is predicted at position `i` from the condition and tokens `0 .. i-1` (causal
    attention). Training is teacher-forced (`teacher_output` gives the logits of every
    position in one pass); decoding runs `jax.lax.scan` over positions, each step
    conditioned on the tokens chosen before it, greedily or by sampling with a
    temperature and an optional top-k from an explicit key.
    """

    condition_proj: eqx.nn.Linear
    token_embedding: eqx.nn.Embedding
    position_embedding: eqx.nn.Embedding
    blocks: TransformerBlock
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    max_length: int = eqx.field(static=True)
    vocab_size: int = eqx.field(static=True)
    modality: str = eqx.field(static=True, default="text")

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
        check_int(d_in, "d_in")
        self.vocab_size = check_int(vocab_size, "vocab_size")
        self.max_length = check_int(max_length, "max_length")
        check_int(width, "width")
        check_int(num_layers, "num_layers")
        check_int(num_heads, "num_heads")
        if width % num_heads != 0:
            raise ValueError(
                f"`width` must be divisible by `num_heads`, got width={width} and "
                f"num_heads={num_heads}"
            )
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

    def __call__(self, condition: Condition, *, key: PRNGKeyArray | None = None) -> Tokens:
        """Greedy decoding without a key; sampling at temperature 1 with one."""
        if key is None:
            return self.decode(condition, method="greedy")
        return self.decode(condition, method="sample", key=key)


class TokenBagDecoder(eqx.Module):
    """One categorical distribution over the vocabulary, shared by every position.

    The right decoder for i.i.d. tokens (the synthetic text): the training loss is
    the token cross-entropy of every position against the same logits. Use
    `TextDecoder` for sequences whose tokens depend on each other.
    """

    mlp: _ResidualMLP
    seq_length: int = eqx.field(static=True)
    modality: str = eqx.field(static=True, default="text")

    def __init__(
        self,
        d_in: int,
        vocab_size: int,
        seq_length: int,
        *,
        hidden: int = 256,
        key: PRNGKeyArray,
    ):
        check_int(d_in, "d_in")
        check_int(vocab_size, "vocab_size")
        self.seq_length = check_int(seq_length, "seq_length")
        check_int(hidden, "hidden")
        self.mlp = _ResidualMLP(d_in, hidden, vocab_size, 1, key=key)

    def logits(self, condition: Condition) -> Float[Array, " vocab"]:
        return self.mlp(condition)

    def teacher_output(self, condition: Condition, target: Tokens) -> Logits:
        return jnp.broadcast_to(
            self.logits(condition), (target.shape[0], self.mlp.output.out_features)
        )

    def __call__(self, condition: Condition, *, key: PRNGKeyArray | None = None) -> Tokens:
        """The most likely token at every position without a key; i.i.d. draws with one."""
        logits = self.logits(condition)
        if key is None:
            return jnp.full(self.seq_length, jnp.argmax(logits), jnp.int32)
        return jr.categorical(key, logits, shape=(self.seq_length,)).astype(jnp.int32)


Encoder = ImageEncoder | TextEncoder | AudioEncoder | eqx.Module
Decoder = ImageDecoder | AudioDecoder | TextDecoder | TokenBagDecoder


class CrossModalGenerator(eqx.Module):
    """Generate one modality from another: an encoder composed with a decoder.

    Every direction (text -> image, image -> text, text -> audio, audio -> image, ...)
    is this one class with different parts; see `make_generator`.
    """

    encoder: Any
    decoder: Any

    def __call__(self, source: Array, *, key: PRNGKeyArray | None = None) -> Array:
        """Encode `source` (one example) and decode the target modality.

        `key` is passed to the decoder: the text decoder samples with it (greedy
        without); image and audio decoders are deterministic.
        """
        return self.decoder(self.encoder(source), key=key)

    def teacher_output(self, source: Array, target: Array) -> Array:
        """What the training loss compares with `target` (see `generator_loss`)."""
        return self.decoder.teacher_output(self.encoder(source), target)

    @property
    def target_modality(self) -> str:
        return self.decoder.modality


def make_encoder(
    modality: str, config: SyntheticConfig, d_model: int, *, key: PRNGKeyArray
) -> ImageEncoder | TextEncoder | AudioEncoder:
    """The default encoder of `modality` for data shaped like `config`."""
    check_choice(modality, "modality", ("image", "text", "audio"))
    if modality == "image":
        return ImageEncoder(config.image_shape, d_model, key=key)
    if modality == "text":
        heads = 4 if d_model % 4 == 0 else 1
        return TextEncoder(config.vocab_size, d_model, config.seq_length, num_heads=heads, key=key)
    n_fft = min(512, max(2, config.num_audio_samples))
    return AudioEncoder(
        d_model,
        sample_rate=config.sample_rate,
        n_fft=n_fft,
        hop_length=max(1, n_fft // 2),
        n_mels=min(64, n_fft // 2 + 1),
        key=key,
    )


def make_decoder(
    modality: str, config: SyntheticConfig, d_model: int, *, key: PRNGKeyArray
) -> Decoder:
    """The default decoder of `modality` for data shaped like `config`."""
    check_choice(modality, "modality", ("image", "text", "audio"))
    if modality == "image":
        return ImageDecoder(d_model, config.image_shape, hidden=max(256, 4 * d_model), key=key)
    if modality == "text":
        return TextDecoder(
            d_model,
            config.vocab_size,
            config.seq_length,
            width=d_model,
            num_heads=4 if d_model % 4 == 0 else 1,
            key=key,
        )
    return AudioDecoder(d_model, config.num_audio_samples, hidden=max(256, 4 * d_model), key=key)


def make_generator(
    source: str,
    target: str,
    config: SyntheticConfig,
    *,
    d_model: int = 128,
    key: PRNGKeyArray,
) -> CrossModalGenerator:
    """A `source -> target` generator from the default encoder and decoder.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig
    >>> generator = make_generator("audio", "image", SyntheticConfig(), key=jr.key(0))
    >>> generator(jr.normal(jr.key(1), (16000,))).shape
    (32, 32, 3)

    ```
    """
    check_choice(source, "source", ("image", "text", "audio"))
    check_choice(target, "target", ("image", "text", "audio"))
    if source == target:
        raise ValueError(f"`source` and `target` must differ, got {source!r} twice")
    check_int(d_model, "d_model")
    encoder_key, decoder_key = jr.split(key)
    return CrossModalGenerator(
        make_encoder(source, config, d_model, key=encoder_key),
        make_decoder(target, config, d_model, key=decoder_key),
    )

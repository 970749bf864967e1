"""Modality encoders: one example in, one `d_model` embedding out (callers vmap)."""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._types import Embedding, Image, Tokens, Waveform
from .._validation import check_int, check_real, check_shape
from ._layers import make_stack, masked_mean, scan_stack, TransformerBlock
from ._spectral import log_spectrogram, num_frames


def _check_heads(d_model: int, num_heads: int, name: str = "d_model") -> None:
    check_int(num_heads, "num_heads")
    if d_model % num_heads != 0:
        raise ValueError(
            f"`{name}` must be divisible by `num_heads`, got {name}={d_model} and "
            f"num_heads={num_heads}"
        )


def _groups(channels: int) -> int:
    """The largest group count <= 8 that divides `channels`."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class _ConvResidualBlock(eqx.Module):
    norm1: eqx.nn.GroupNorm
    conv1: eqx.nn.Conv2d
    norm2: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d

    def __init__(self, channels: int, *, key: PRNGKeyArray):
        key1, key2 = jr.split(key)
        self.norm1 = eqx.nn.GroupNorm(_groups(channels), channels)
        self.conv1 = eqx.nn.Conv2d(channels, channels, 3, padding=1, key=key1)
        self.norm2 = eqx.nn.GroupNorm(_groups(channels), channels)
        self.conv2 = eqx.nn.Conv2d(channels, channels, 3, padding=1, key=key2)

    def __call__(self, x: Float[Array, "c h w"]) -> Float[Array, "c h w"]:
        h = self.conv1(jax.nn.gelu(self.norm1(x)))
        return x + self.conv2(jax.nn.gelu(self.norm2(h)))


class ImageEncoder(eqx.Module):
    """A small residual conv net: stem, stages of residual blocks with GroupNorm (no
    batch statistics) separated by stride-2 convolutions, global average pooling, and a
    projection to `d_model`.

    ```python
    >>> import jax.random as jr
    >>> encoder = ImageEncoder((32, 32, 3), 64, key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (32, 32, 3))).shape
    (64,)

    ```
    """

    stem: eqx.nn.Conv2d
    stages: tuple[tuple[_ConvResidualBlock, ...], ...]
    downsamples: tuple[eqx.nn.Conv2d, ...]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        channels: Sequence[int] = (32, 64),
        blocks_per_stage: int = 1,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)` of the input.
        - `d_model`: the embedding size.
        - `channels`: keyword only. The width of each stage; the image is halved
            between stages.
        - `blocks_per_stage`: keyword only. Residual blocks in each stage.
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        check_int(d_model, "d_model")
        channels = tuple(check_int(c, "channels") for c in channels)
        if not channels:
            raise ValueError("`channels` must name at least one stage width, got ()")
        check_int(blocks_per_stage, "blocks_per_stage", minimum=0)
        stem_key, head_key, *keys = jr.split(key, 2 + 2 * len(channels))
        self.stem = eqx.nn.Conv2d(self.image_shape[2], channels[0], 3, padding=1, key=stem_key)
        self.stages = tuple(
            tuple(_ConvResidualBlock(c, key=k) for k in jr.split(keys[2 * i], blocks_per_stage))
            for i, c in enumerate(channels)
        )
        self.downsamples = tuple(
            eqx.nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, key=keys[2 * i + 1])
            for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]))
        )
        self.norm = eqx.nn.LayerNorm(channels[-1])
        self.head = eqx.nn.Linear(channels[-1], d_model, key=head_key)

    def __call__(self, image: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        """**Arguments:**

        - `image`: one image, `(height, width, channels)` as configured.
        - `key`: ignored (deterministic); accepted for a uniform encoder interface.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        del key
        x = self.stem(jnp.transpose(image, (2, 0, 1)))
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsamples[i - 1](x)
            for block in stage:
                x = block(x)
        return self.head(self.norm(jnp.mean(x, axis=(1, 2))))


class TextEncoder(eqx.Module):
    """Token + positional embeddings, pre-norm transformer blocks over the sequence
    (scanned, so compile time does not grow with depth), masked mean pooling over the
    tokens that are not padding, and a projection to `d_model`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> encoder = TextEncoder(1000, 64, 50, pad_id=0, key=jr.key(0))
    >>> encoder(jnp.arange(50)).shape
    (64,)

    ```
    """

    token_embedding: eqx.nn.Embedding
    position_embedding: eqx.nn.Embedding
    blocks: TransformerBlock | None
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    max_length: int = eqx.field(static=True)
    pad_id: int | None = eqx.field(static=True)
    num_layers: int = eqx.field(static=True)

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        max_length: int,
        *,
        width: int | None = None,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        pad_id: int | None = None,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `vocab_size`: tokens are in `[0, vocab_size)`.
        - `d_model`: the embedding size.
        - `max_length`: the longest sequence accepted.
        - `width`: keyword only. The transformer width (default `d_model`); must divide
            by `num_heads`.
        - `num_layers`, `num_heads`, `mlp_ratio`, `dropout`: keyword only.
        - `pad_id`: keyword only. A token id that marks padding: it is masked out of
            attention and pooling. `None`: no padding.
        - `key`: keyword only. The key of the initialisation.
        """
        vocab_size = check_int(vocab_size, "vocab_size")
        check_int(d_model, "d_model")
        self.max_length = check_int(max_length, "max_length")
        width = d_model if width is None else check_int(width, "width")
        _check_heads(width, num_heads, "width" if width != d_model else "d_model")
        self.num_layers = check_int(num_layers, "num_layers", minimum=0)
        check_real(dropout, "dropout", low=0.0, high=1.0)
        if pad_id is not None:
            check_int(pad_id, "pad_id", minimum=0)
            if pad_id >= vocab_size:
                raise ValueError(f"`pad_id` must be < vocab_size={vocab_size}, got {pad_id}")
        self.pad_id = pad_id
        token_key, position_key, block_key, head_key = jr.split(key, 4)
        self.token_embedding = eqx.nn.Embedding(vocab_size, width, key=token_key)
        self.position_embedding = eqx.nn.Embedding(self.max_length, width, key=position_key)
        self.blocks = (
            make_stack(
                lambda k: TransformerBlock(width, num_heads, mlp_ratio, dropout, key=k),
                self.num_layers,
                block_key,
            )
            if self.num_layers > 0
            else None
        )
        self.norm = eqx.nn.LayerNorm(width)
        self.head = eqx.nn.Linear(width, d_model, key=head_key)

    def __call__(
        self, tokens: Tokens, *, key: PRNGKeyArray | None = None, inference: bool = False
    ) -> Embedding:
        """**Arguments:**

        - `tokens`: one sequence of token ids, at most `max_length` long.
        - `key`: keyword only. The dropout key; needed when dropout is on and
            `inference` is false.
        - `inference`: keyword only. Turn dropout off.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        length = tokens.shape[0]
        if length > self.max_length:
            raise ValueError(
                f"`tokens` has length {length}, longer than max_length={self.max_length}"
            )
        valid = jnp.ones(length, bool) if self.pad_id is None else tokens != self.pad_id
        x = jax.vmap(self.token_embedding)(tokens) + jax.vmap(self.position_embedding)(
            jnp.arange(length)
        )
        mask = jnp.broadcast_to(valid[None, :], (length, length))
        if self.blocks is not None:
            x = scan_stack(
                self.blocks,
                x,
                lambda block, h, k: block(h, mask, key=k, inference=inference),
                key=key,
            )
        return self.head(self.norm(masked_mean(x, valid)))


class TokenBagEncoder(eqx.Module):
    """The guide's text encoder: a token embedding, mean-pooled, then a linear map.

    Order-free (a bag of tokens), and padding-aware when `pad_id` is set.
    """

    embedding: eqx.nn.Embedding
    linear: eqx.nn.Linear
    pad_id: int | None = eqx.field(static=True)

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        d_model: int,
        *,
        pad_id: int | None = None,
        key: PRNGKeyArray,
    ):
        check_int(vocab_size, "vocab_size")
        check_int(embed_dim, "embed_dim")
        check_int(d_model, "d_model")
        if pad_id is not None:
            check_int(pad_id, "pad_id", minimum=0)
        self.pad_id = pad_id
        embedding_key, linear_key = jr.split(key)
        self.embedding = eqx.nn.Embedding(vocab_size, embed_dim, key=embedding_key)
        self.linear = eqx.nn.Linear(embed_dim, d_model, key=linear_key)

    def __call__(self, tokens: Tokens, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        valid = jnp.ones(tokens.shape, bool) if self.pad_id is None else tokens != self.pad_id
        return self.linear(masked_mean(jax.vmap(self.embedding)(tokens), valid))


class MLPEncoder(eqx.Module):
    """Flatten the input and apply `Linear -> relu -> Linear`: the guide's image encoder.

    Works for any modality of a fixed shape (integers are cast to float32).
    """

    hidden: eqx.nn.Linear
    output: eqx.nn.Linear
    input_shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, input_shape: Sequence[int], hidden: int, d_model: int, *, key: PRNGKeyArray):
        self.input_shape = tuple(check_int(n, "input_shape") for n in input_shape)
        check_int(hidden, "hidden")
        check_int(d_model, "d_model")
        hidden_key, output_key = jr.split(key)
        size = int(np.prod(self.input_shape))
        self.hidden = eqx.nn.Linear(size, hidden, key=hidden_key)
        self.output = eqx.nn.Linear(hidden, d_model, key=output_key)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        if x.shape != self.input_shape:
            raise ValueError(f"expected an input of shape {self.input_shape}, got {x.shape}")
        return self.output(jax.nn.relu(self.hidden(jnp.ravel(x).astype(jnp.float32))))


class AudioEncoder(eqx.Module):
    """A spectral front end computed in JAX (log STFT power, or log-mel when `n_mels` is
    set), then 1-D residual convolutions over time with the frequency bins as
    channels, mean + max pooling over time, and a projection to `d_model`.

    Accepts raw waveforms of any length (at least one frame is made).

    ```python
    >>> import jax.random as jr
    >>> encoder = AudioEncoder(64, sample_rate=16000, key=jr.key(0))
    >>> encoder(jr.normal(jr.key(1), (16000,))).shape
    (64,)

    ```
    """

    input_proj: eqx.nn.Conv1d
    convs: tuple[eqx.nn.Conv1d, ...]
    norms: tuple[eqx.nn.GroupNorm, ...]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    sample_rate: int = eqx.field(static=True)
    n_fft: int = eqx.field(static=True)
    hop_length: int = eqx.field(static=True)
    n_mels: int | None = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        *,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 256,
        n_mels: int | None = 64,
        channels: int = 64,
        num_layers: int = 2,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_model`: the embedding size.
        - `sample_rate`: keyword only. Hz, used by the mel filter bank.
        - `n_fft`, `hop_length`: keyword only. STFT frame length and step.
        - `n_mels`: keyword only. Mel bands, or `None` for the linear-frequency power.
        - `channels`, `num_layers`: keyword only. Width and depth of the conv stack.
        - `key`: keyword only. The key of the initialisation.
        """
        check_int(d_model, "d_model")
        self.sample_rate = check_int(sample_rate, "sample_rate")
        self.n_fft = check_int(n_fft, "n_fft", minimum=2)
        self.hop_length = check_int(hop_length, "hop_length")
        self.n_mels = None if n_mels is None else check_int(n_mels, "n_mels")
        check_int(channels, "channels")
        check_int(num_layers, "num_layers", minimum=0)
        bins = self.n_fft // 2 + 1 if self.n_mels is None else self.n_mels
        input_key, head_key, *conv_keys = jr.split(key, 2 + num_layers)
        self.input_proj = eqx.nn.Conv1d(bins, channels, 1, key=input_key)
        self.convs = tuple(
            eqx.nn.Conv1d(channels, channels, 3, padding=1, key=k) for k in conv_keys
        )
        self.norms = tuple(eqx.nn.GroupNorm(_groups(channels), channels) for _ in conv_keys)
        self.norm = eqx.nn.LayerNorm(2 * channels)
        self.head = eqx.nn.Linear(2 * channels, d_model, key=head_key)

    def features(self, audio: Waveform) -> Float[Array, "frames bins"]:
        """The log spectrogram the conv stack sees."""
        return log_spectrogram(
            audio,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            sample_rate=self.sample_rate,
        )

    def __call__(self, audio: Waveform, *, key: PRNGKeyArray | None = None) -> Embedding:
        """**Arguments:**

        - `audio`: one waveform.
        - `key`: ignored (deterministic); accepted for a uniform encoder interface.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        del key
        assert num_frames(audio.shape[0], self.n_fft, self.hop_length) >= 1
        x = self.input_proj(self.features(audio).T)  # (channels, frames)
        for conv, norm in zip(self.convs, self.norms):
            x = x + conv(jax.nn.gelu(norm(x)))
        pooled = jnp.concatenate([jnp.mean(x, axis=1), jnp.max(x, axis=1)])
        return self.head(self.norm(pooled))

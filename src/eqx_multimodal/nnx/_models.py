"""The model half of the guide's API, as thin wrappers over `eqx_multimodal.nn`.

Each class keeps the guide's constructor (with `rngs`) and call form. Unlike the
guide's, every one also accepts a batch (leading axes are vmapped), and the generators
are real: the image-to-text decoder is autoregressive and `num_heads` is used.
"""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, PRNGKeyArray

from .._validation import check_int, check_shape
from ..nn import (
    AttentionFusion,
    AudioDecoder,
    CrossModalGenerator,
    early_fusion as _early_fusion,
    ImageDecoder,
    late_fusion as _late_fusion,
    MLPEncoder,
    TextDecoder,
    TokenBagEncoder,
)
from ._rngs import next_key


def _over_batch(fn: Callable[..., Array], example_ndim: int, *args: Array) -> Array:
    """Apply `fn` to one example, or vmap it over any leading batch axes."""
    extra = args[0].ndim - example_ndim
    if extra < 0:
        raise ValueError(
            f"expected inputs with at least {example_ndim} dimension(s), got shape {args[0].shape}"
        )
    for _ in range(extra):
        fn = jax.vmap(fn)
    return fn(*args)


class MultiModalAttentionFusion(eqx.Module):
    """The guide's `MultiModalAttentionFusion(d_model, num_heads=4, *, rngs)`.

    Real multi-head attention over the three modality embeddings (`AttentionFusion`;
    `d_model` must divide by `num_heads`). Call as
    `fusion(image_emb, text_emb, audio_emb, *, deterministic=False)` with `(d_model,)`
    embeddings or batches of them. Dropout is 0, so no key is needed.
    """

    fusion: AttentionFusion
    d_model: int = eqx.field(static=True)
    num_heads: int = eqx.field(static=True)

    def __init__(self, d_model: int, num_heads: int = 4, *, rngs: Any):
        self.d_model = check_int(d_model, "d_model")
        self.num_heads = check_int(num_heads, "num_heads")
        self.fusion = AttentionFusion(d_model, num_heads, 3, key=next_key(rngs, "params"))

    def __call__(
        self,
        image_emb: Array,
        text_emb: Array,
        audio_emb: Array,
        *,
        deterministic: bool = False,
    ) -> Array:
        def fuse(i, t, a):
            return self.fusion(jnp.stack([i, t, a]), inference=deterministic)

        return _over_batch(fuse, 1, image_emb, text_emb, audio_emb)


class TextToImageGenerator(eqx.Module):
    """The guide's `TextToImageGenerator(vocab_size, embed_dim, image_shape, *, rngs)`:
    a mean-pooled token embedding, `Linear(embed_dim, 512)`, then
    `Linear(512, 1024) -> relu -> Linear(1024, H W C) -> sigmoid`.

    `generator(text_tokens)` maps `(seq,)` tokens (or a batch) to `(H, W, C)` images.
    """

    model: CrossModalGenerator
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(self, vocab_size: int, embed_dim: int, image_shape: Sequence[int], *, rngs: Any):
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        encoder_key, decoder_key = jr.split(next_key(rngs, "params"))
        self.model = CrossModalGenerator(
            TokenBagEncoder(vocab_size, embed_dim, 512, key=encoder_key),
            ImageDecoder(512, self.image_shape, hidden=1024, num_blocks=0, key=decoder_key),
        )

    def __call__(self, text_tokens: Array) -> Array:
        return _over_batch(self.model, 1, text_tokens)


class TextToAudioGenerator(eqx.Module):
    """The guide's `TextToAudioGenerator(vocab_size, embed_dim, audio_length, *, rngs)`:
    a mean-pooled token embedding, `Linear(embed_dim, 512)`, then
    `Linear(512, 1024) -> relu -> Linear(1024, audio_length) -> tanh`.
    """

    model: CrossModalGenerator
    audio_length: int = eqx.field(static=True)

    def __init__(self, vocab_size: int, embed_dim: int, audio_length: int, *, rngs: Any):
        self.audio_length = check_int(audio_length, "audio_length")
        encoder_key, decoder_key = jr.split(next_key(rngs, "params"))
        self.model = CrossModalGenerator(
            TokenBagEncoder(vocab_size, embed_dim, 512, key=encoder_key),
            AudioDecoder(512, self.audio_length, hidden=1024, num_blocks=0, key=decoder_key),
        )

    def __call__(self, text_tokens: Array) -> Array:
        return _over_batch(self.model, 1, text_tokens)


class ImageToTextGenerator(eqx.Module):
    """The guide's `ImageToTextGenerator(image_shape, vocab_size, max_length,
    hidden_dim=512, *, rngs)`, with a real autoregressive decoder.

    The guide's image encoder (`Linear -> relu -> Linear` over the flattened image)
    conditions a causal transformer decoder. `generator(image)` decodes greedily;
    `generator(image, rngs=rngs)` samples with a key drawn from `rngs` (its `sample`
    stream, or its default one); `key=` may be given instead, which is what to use
    under `jax.jit`.
    """

    model: CrossModalGenerator
    max_length: int = eqx.field(static=True)
    vocab_size: int = eqx.field(static=True)

    def __init__(
        self,
        image_shape: Sequence[int],
        vocab_size: int,
        max_length: int,
        hidden_dim: int = 512,
        *,
        rngs: Any,
    ):
        shape = check_shape(image_shape, "image_shape", length=3)
        self.vocab_size = check_int(vocab_size, "vocab_size")
        self.max_length = check_int(max_length, "max_length")
        check_int(hidden_dim, "hidden_dim")
        encoder_key, decoder_key = jr.split(next_key(rngs, "params"))
        width = min(hidden_dim, 256) - min(hidden_dim, 256) % 4 or 4
        self.model = CrossModalGenerator(
            MLPEncoder(shape, hidden_dim, hidden_dim, key=encoder_key),
            TextDecoder(hidden_dim, vocab_size, max_length, width=width, key=decoder_key),
        )

    def __call__(self, image: Array, *, rngs: Any = None, key: PRNGKeyArray | None = None) -> Array:
        if rngs is not None and key is not None:
            raise TypeError("pass either `rngs` or `key`, not both")
        if rngs is not None:
            key = next_key(rngs, "sample")
        if key is None:
            # The guide's behaviour without `rngs`: the most likely tokens.
            return _over_batch(lambda x: self.model(x, greedy=True), 3, image)
        batch_shape = image.shape[:-3]
        keys = jr.split(key, batch_shape) if batch_shape else key
        return _over_batch(lambda x, k: self.model(x, key=k), 3, image, keys)


def early_fusion(image: Array, text: Array, audio: Array) -> Array:
    """The guide's `early_fusion(image, text, audio)`: flatten and concatenate."""
    return _early_fusion(image, text, audio)


def late_fusion(image_embedding: Array, text_embedding: Array, audio_embedding: Array) -> Array:
    """The guide's `late_fusion`: the weighted sum with weights (0.4, 0.4, 0.2)."""
    return _late_fusion(image_embedding, text_embedding, audio_embedding, mode="weighted")

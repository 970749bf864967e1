"""Reconstruction losses of one example, one a modality (callers vmap and average)."""

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool

from .._types import Image, Logits, Scalar, Tokens, Waveform
from ..modalities import get_modality
from ..nn import AbstractDecoder, CrossModalGenerator, stft_magnitude


def pixel_loss(prediction: Image, target: Image) -> Scalar:
    """Mean squared error over pixels."""
    return jnp.mean((prediction - target) ** 2)


def token_cross_entropy(
    logits: Logits, tokens: Tokens, mask: Bool[Array, " seq"] | None = None
) -> Scalar:
    """Mean cross-entropy of the next-token logits, over the unmasked positions."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, tokens)
    if mask is None:
        return jnp.mean(losses)
    weights = mask.astype(losses.dtype)
    return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def default_fft_sizes(num_samples: int) -> tuple[int, ...]:
    """Three STFT resolutions that fit the signal: 2048/1024/512 for 1 s at 16 kHz."""
    sizes = tuple(n for n in (2048, 1024, 512, 256, 128, 64, 32, 16) if n <= num_samples)
    return sizes[:3] or (max(2, num_samples),)


def multi_resolution_stft_loss(
    prediction: Waveform, target: Waveform, fft_sizes: Sequence[int] | None = None
) -> Scalar:
    """Spectral convergence plus log-magnitude L1, averaged over STFT resolutions.

    The usual multi-resolution STFT loss of neural vocoders: each resolution uses a hop
    of a quarter frame.
    """
    sizes = default_fft_sizes(target.shape[0]) if fft_sizes is None else tuple(fft_sizes)
    total = jnp.zeros((), prediction.dtype)
    for n_fft in sizes:
        hop = max(1, n_fft // 4)
        p = stft_magnitude(prediction, n_fft=n_fft, hop_length=hop)
        t = stft_magnitude(target, n_fft=n_fft, hop_length=hop)
        convergence = jnp.sqrt(jnp.sum((t - p) ** 2) + 1e-12) / jnp.sqrt(jnp.sum(t**2) + 1e-12)
        log_l1 = jnp.mean(jnp.abs(jnp.log(t + 1e-3) - jnp.log(p + 1e-3)))
        total = total + convergence + log_l1
    return total / len(sizes)


def waveform_loss(
    prediction: Waveform,
    target: Waveform,
    *,
    spectral_weight: float = 1.0,
    fft_sizes: Sequence[int] | None = None,
) -> Scalar:
    """Waveform MSE plus `spectral_weight` times the multi-resolution STFT loss."""
    mse = jnp.mean((prediction - target) ** 2)
    return mse + spectral_weight * multi_resolution_stft_loss(prediction, target, fft_sizes)


def reconstruction_loss(modality: str, output: Array, target: Array) -> Scalar:
    """The loss that fits `modality`: its registered `Modality.loss` (the built-ins':
    pixel MSE for images, token cross-entropy for text, waveform MSE + multi-resolution
    STFT for audio), else the MSE for real values and the cross-entropy of logits
    (`output`) for ids."""
    kind = get_modality(modality)  # unknown: a one-line error
    if kind.loss is not None:
        return kind.loss(output, target)
    if kind.holds_ids:
        return token_cross_entropy(output, target)
    return jnp.mean((output - target) ** 2)


def decoder_loss(decoder: AbstractDecoder, modality: str, output: Any, target: Array) -> Scalar:
    """The training loss of `decoder`'s `output` (its `teacher_output`) against
    `target`: the decoder's own `loss` where it defines one (a spectrogram, a set of
    candidates), else the `reconstruction_loss` of `modality`."""
    own = decoder.loss(output, target)
    return reconstruction_loss(modality, output, target) if own is None else own


def generator_loss(generator: CrossModalGenerator, source: Array, target: Array) -> Scalar:
    """The training loss of a `CrossModalGenerator` on one (source, target) pair: the
    `reconstruction_loss` of its target modality.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.nn import CrossModalGenerator, ImageDecoder, TokenBagEncoder
    >>> generator = CrossModalGenerator(
    ...     TokenBagEncoder(20, 8, 16, key=jr.key(0)),
    ...     ImageDecoder(16, (8, 8, 3), hidden=32, key=jr.key(1)),
    ... )
    >>> loss = generator_loss(generator, jnp.arange(6), jnp.zeros((8, 8, 3)))
    >>> loss.shape, bool(loss > 0)
    ((), True)

    ```
    """
    output = generator.teacher_output(source, target)
    return decoder_loss(generator.decoder, generator.target_modality, output, target)

"""The guide's formulas transcribed directly, with explicit keys.

This is the yardstick, not the implementation: the tests check the fast renderers in
`data/_synthetic.py` against these functions (the same values where the maths is the same,
a statistical test where the sampling method differs), and the generation benchmark
times these, jitted and vmapped, as the naive baseline.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PRNGKeyArray

from .._types import Image, Latent, ScalarLike, Tokens, Waveform
from ._synthetic_config import num_audio_samples


def reference_image(
    latent: Latent, alignment: ScalarLike, *, key: PRNGKeyArray, shape: tuple[int, int, int]
) -> Image:
    h, w, c = shape
    x = jnp.linspace(-1, 1, w)
    y = jnp.linspace(-1, 1, h)
    xx, yy = jnp.meshgrid(x, y)
    pattern = jnp.zeros((h, w))
    for i in range(min(latent.shape[0], 8)):
        freq = 2.0 + i
        phase = latent[i] * jnp.pi
        amplitude = jnp.abs(latent[i])
        pattern += amplitude * jnp.sin(freq * xx + phase) * jnp.cos(freq * yy + phase)
    pattern = (pattern - pattern.min()) / (pattern.max() - pattern.min() + 1e-8)
    pattern = jnp.stack([pattern] * c, axis=-1)
    noise = jr.normal(key, (h, w, c))
    image = alignment * pattern + (1 - alignment) * noise
    return jnp.asarray((image - image.min()) / (image.max() - image.min() + 1e-8))


def reference_logits(latent: Latent, alignment: ScalarLike, vocab_size: int) -> jax.Array:
    expanded = jnp.tile(latent, vocab_size // latent.shape[0] + 1)[:vocab_size]
    return expanded * alignment


def reference_text(
    latent: Latent,
    alignment: ScalarLike,
    *,
    key: PRNGKeyArray,
    vocab_size: int,
    seq_length: int,
) -> Tokens:
    logits = reference_logits(latent, alignment, vocab_size)
    return jr.categorical(key, logits, shape=(seq_length,)).astype(jnp.int32)


def reference_tone(latent: Latent, sample_rate: int, duration: float) -> jax.Array:
    n = num_audio_samples(sample_rate, duration)
    t = jnp.linspace(0, duration, n)
    waveform = jnp.zeros(n)
    for i in range(min(latent.shape[0], 10)):
        freq = 100 + 1900 * (jnp.abs(latent[i]) % 1)
        phase = latent[i] * 2 * jnp.pi
        amplitude = jnp.abs(latent[i]) * 0.1
        waveform += amplitude * jnp.sin(2 * jnp.pi * freq * t + phase)
    return waveform


def reference_audio(
    latent: Latent,
    alignment: ScalarLike,
    *,
    key: PRNGKeyArray,
    sample_rate: int,
    duration: float,
) -> Waveform:
    waveform = reference_tone(latent, sample_rate, duration)
    noise = jr.normal(key, waveform.shape) * 0.1
    waveform = alignment * waveform + (1 - alignment) * noise
    return jnp.asarray(waveform / (jnp.max(jnp.abs(waveform)) + 1e-8))

"""How strongly each modality of a synthetic batch depends on its latent."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._types import Image, Latent, Tokens, Waveform
from ._synthetic import audio_tone, image_pattern, token_groups
from ._synthetic_config import SyntheticConfig


def _correlation(a: Array, b: Array) -> Float[Array, ""]:
    a = a.ravel() - jnp.mean(a)
    b = b.ravel() - jnp.mean(b)
    return jnp.sum(a * b) / jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b) + 1e-12)


def image_dependence(image: Image, latent: Latent) -> Float[Array, ""]:
    """Correlation of the image (channel mean) with its latent's noise-free pattern."""
    height, width, _ = image.shape
    return _correlation(jnp.mean(image, axis=-1), image_pattern(latent, height, width))


def audio_dependence(audio: Waveform, latent: Latent, config: SyntheticConfig) -> Float[Array, ""]:
    """Correlation of the waveform with its latent's noise-free sum of sinusoids."""
    return _correlation(audio, audio_tone(latent, config.sample_rate, config.duration))


def folded_token_histogram(
    tokens: Tokens, latent_dim: int, vocab_size: int
) -> Float[Array, " groups"]:
    """Tokens counted by the latent dimension that sets their logit, per token it owns.

    Token `t` counts for dimension `t % latent_dim`; each count is divided by the number
    of tokens that dimension owns (`token_groups`), so at alignment 0 every entry has
    the same expectation. The result has `min(vocab_size, latent_dim)` entries.

    ```python
    >>> import jax.numpy as jnp
    >>> folded_token_histogram(jnp.array([0, 2, 4, 1]), 2, 5).tolist()
    [1.0, 0.5]

    ```
    """
    counts = jnp.asarray(token_groups(vocab_size, latent_dim), dtype=jnp.float32)
    histogram = jnp.zeros(counts.shape[0], jnp.float32).at[tokens % latent_dim].add(1.0)
    return histogram / counts


def text_dependence(tokens: Tokens, latent: Latent, vocab_size: int) -> Float[Array, ""]:
    """Correlation of the token histogram, folded by latent dimension, with the latent.

    Token `t` has logit `latent[t % latent_dim] * alignment`, so at positive alignment
    the dimensions with larger latent values collect more tokens (per token they own).
    """
    histogram = folded_token_histogram(tokens, latent.shape[0], vocab_size)
    return _correlation(jnp.log1p(histogram), latent[: histogram.shape[0]])


#: The modalities `alignment_dependence` measures (the guide's).
GUIDE_MEASURED = ("image", "text", "audio")


def alignment_dependence(
    batch: dict[str, Array], config: SyntheticConfig
) -> dict[str, Float[Array, ""]]:
    """The mean, over a batch, of each modality's measured dependence on its latent.

    About 0 at alignment 0 for every modality; it grows with the alignment, to 1 for
    image and audio at alignment 1 (text stays below 1: its tokens are random draws).

    **Arguments:**

    - `batch`: a batch of synthetic samples (with `"latent"`).
    - `config`: the configuration the batch was made with.

    **Returns:**

    A dict from each of the guide's modalities (`GUIDE_MEASURED`) in the batch to a
    scalar.
    """
    latent = batch["latent"]
    out = {}
    if "image" in batch:
        out["image"] = jnp.mean(jax.vmap(image_dependence)(batch["image"], latent))
    if "text" in batch:
        out["text"] = jnp.mean(
            jax.vmap(lambda t, z: text_dependence(t, z, config.vocab_size))(batch["text"], latent)
        )
    if "audio" in batch:
        out["audio"] = jnp.mean(
            jax.vmap(lambda a, z: audio_dependence(a, z, config))(batch["audio"], latent)
        )
    return out

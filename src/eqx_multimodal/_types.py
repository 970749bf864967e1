"""jaxtyping aliases shared by the whole package.

One example is unbatched; callers `jax.vmap`. Dimension names are shared across the
package so that jaxtyping checks that, for example, every embedding fed to a fusion
layer has the same `d_model`.
"""

from typing import TypeAlias

from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, Real


Image: TypeAlias = Float[Array, "height width channels"]
Tokens: TypeAlias = Int[Array, " seq"]
Waveform: TypeAlias = Float[Array, " samples"]
Latent: TypeAlias = Float[Array, " latent_dim"]
Embedding: TypeAlias = Float[Array, " d_model"]
Logits: TypeAlias = Float[Array, "seq vocab"]
Scalar: TypeAlias = Float[Array, ""]
ScalarLike: TypeAlias = float | int | Real[ArrayLike, ""]
IndexArray: TypeAlias = Int[Array, " batch"]
Key: TypeAlias = PRNGKeyArray

BatchImage: TypeAlias = Float[Array, "batch height width channels"]
BatchTokens: TypeAlias = Int[Array, "batch seq"]
BatchWaveform: TypeAlias = Float[Array, "batch samples"]
BatchLatent: TypeAlias = Float[Array, "batch latent_dim"]
BatchEmbedding: TypeAlias = Float[Array, "batch d_model"]


def pair_names(modalities: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every unordered pair of `modalities`, in order: the contrastive pairs."""
    return [(a, b) for i, a in enumerate(modalities) for b in modalities[i + 1 :]]

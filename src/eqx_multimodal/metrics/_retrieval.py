"""Cross-modal retrieval: recall@k and ranks over a gallery of paired latents."""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int


def retrieval_ranks(
    queries: Float[Array, "gallery latent"], gallery: Float[Array, "gallery latent"]
) -> Int[Array, " gallery"]:
    """The rank (0 = first) of each query's true match, row `i` of `gallery`.

    Ties count against the query: a candidate scoring the same as the match is ranked
    ahead of it, so a model that maps everything to one point scores at chance or worse.
    """
    scores = queries @ gallery.T
    true = jnp.diagonal(scores)
    return jnp.sum(scores >= true[:, None], axis=1) - 1


def retrieval_metrics(
    queries: Float[Array, "gallery latent"],
    gallery: Float[Array, "gallery latent"],
    ks: tuple[int, ...] = (1, 5, 10),
) -> dict[str, float]:
    """`recall@k` for each k and the `median_rank` (1-based) of the true matches.

    Chance for recall@k in a gallery of G is k / G; the chance median rank is G / 2.

    ```python
    >>> import jax.numpy as jnp
    >>> retrieval_metrics(jnp.eye(4), jnp.eye(4))
    {'recall@1': 1.0, 'recall@5': 1.0, 'recall@10': 1.0, 'median_rank': 1.0}

    ```
    """
    ranks = np.asarray(retrieval_ranks(queries, gallery))
    out = {f"recall@{k}": float(np.mean(ranks < k)) for k in ks}
    out["median_rank"] = float(np.median(ranks + 1))
    return out

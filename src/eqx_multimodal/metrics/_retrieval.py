"""Cross-modal retrieval: recall@k and ranks over a gallery of paired latents."""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int


def retrieval_ranks(
    queries: Float[Array, "gallery latent"], gallery: Float[Array, "gallery latent"]
) -> Int[Array, " gallery"]:
    """The rank (0 = first) of each query's true match, row `i` of `gallery`.

    Ties count against the query: a candidate scoring the same as the match is ranked
    ahead of it, so a model that maps everything to one point scores at chance or worse
    (and so do NaNs: see `score_ranks`).
    """
    return jnp.asarray(score_ranks(queries @ gallery.T))


def score_ranks(
    scores: Float[Array | np.ndarray, "queries gallery"],
) -> Int[Array | np.ndarray, " queries"]:
    """The rank (0 = first) of each query's true match, column `i` for row `i`, in a
    matrix of scores (higher is better). Ties, and NaN scores anywhere in a row, count
    against the query: a model whose scores are NaN ranks last, not first.

    A NumPy matrix is ranked in NumPy, in its own precision (likelihood scores in
    float64 may differ by less than float32 resolves); a JAX array in JAX.
    """
    xp = np if isinstance(scores, np.ndarray) else jnp
    scores = xp.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] > scores.shape[1]:
        raise ValueError(
            f"`scores` must be (queries, gallery) with queries <= gallery, got {scores.shape}"
        )
    true = xp.diagonal(scores)
    # `not (score < true)`, so that a comparison with a NaN counts against the query.
    return xp.sum(~(scores < true[:, None]), axis=1) - 1


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
    return _summary(np.asarray(retrieval_ranks(queries, gallery)), ks)


def retrieval_metrics_from_scores(
    scores: Float[Array | np.ndarray, "queries gallery"], ks: tuple[int, ...] = (1, 5, 10)
) -> dict[str, float]:
    """`retrieval_metrics` for any matcher: row `i` of `scores` scores query `i` against
    the gallery (higher is better), and its true match is column `i`.

    ```python
    >>> import numpy as np
    >>> retrieval_metrics_from_scores(np.array([[0.0, 1.0], [0.0, 1.0]]), ks=(1,))
    {'recall@1': 0.5, 'median_rank': 1.5}

    ```
    """
    return _summary(np.asarray(score_ranks(scores)), ks)


def _summary(ranks: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    out = {f"recall@{k}": float(np.mean(ranks < k)) for k in ks}
    out["median_rank"] = float(np.median(ranks + 1))
    return out

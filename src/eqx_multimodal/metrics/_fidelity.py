"""Fidelity and diversity of generated items: how far their features' statistics are
from the real items', and how much the samples of one source differ (a blur or a
collapse shows in one or the other)."""

from typing import Any

import numpy as np
from jaxtyping import Array

from .._validation import check_int


def _check_finite(array: np.ndarray, name: str) -> None:
    bad = int(np.sum(~np.isfinite(array))) if np.issubdtype(array.dtype, np.floating) else 0
    if bad:
        raise ValueError(f"`{name}` holds {bad} NaN/inf values")


def _features(x: Any, name: str) -> np.ndarray:
    array = np.asarray(x)
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be features (items, dim), got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"`{name}` must be real features, got dtype {array.dtype}")
    if array.shape[0] < 2:
        raise ValueError(
            f"`{name}` must hold at least 2 items to fit a Gaussian, got {array.shape[0]}"
        )
    _check_finite(array, name)
    return array.astype(np.float64)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(
    real_features: np.ndarray | Array, generated_features: np.ndarray | Array
) -> float:
    """The Fréchet distance between Gaussian fits of two feature sets (the FID's formula):
    `|mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2)`.

    0 for identical sets; it grows with a shift of the mean or a change of the spread
    (a blur narrows the generated features' spread, a collapse more so). The matrix
    square roots are taken by symmetric eigendecompositions in float64 (the trace of
    `(S_r S_g)^1/2` is that of the symmetric `(S_r^1/2 S_g S_r^1/2)^1/2`), so the result
    is real and never negative up to rounding; it is clipped at 0. With the judge's
    features (`judge_features`) it measures fidelity in the eyes of an independent
    classifier.

    **Arguments:**

    - `real_features`: `(n, d)` features of real items (at least 2).
    - `generated_features`: `(m, d)` features of generated items (at least 2).

    **Returns:**

    The distance, a float >= 0.

    ```python
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 3))
    >>> frechet_distance(x, x)
    0.0
    >>> round(frechet_distance(x, x + np.array([2.0, 0.0, 0.0])), 6)
    4.0

    ```
    """
    real = _features(real_features, "real_features")
    generated = _features(generated_features, "generated_features")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"`real_features` and `generated_features` must have the same width, got "
            f"{real.shape[1]} and {generated.shape[1]}"
        )
    mu_r, mu_g = real.mean(axis=0), generated.mean(axis=0)
    cov_r = np.atleast_2d(np.cov(real, rowvar=False))
    cov_g = np.atleast_2d(np.cov(generated, rowvar=False))
    root_r = _psd_sqrt(cov_r)
    middle = root_r @ cov_g @ root_r
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)))
    distance = float(np.sum((mu_r - mu_g) ** 2) + np.trace(cov_r) + np.trace(cov_g) - 2 * cross)
    scale = float(np.sum(mu_r**2) + np.sum(mu_g**2) + np.trace(cov_r) + np.trace(cov_g))
    # Rounding leaves identical sets a few ulps of `scale` away from 0.
    return 0.0 if distance <= 1e-12 * max(scale, 1e-300) else distance


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise distance of flat items: the root-mean-square difference per value for
    real items, the share of differing positions for integer items (tokens)."""
    if np.issubdtype(a.dtype, np.integer):
        return np.mean(a != b, axis=-1)
    diff = a.astype(np.float64) - b.astype(np.float64)
    return np.sqrt(np.mean(diff * diff, axis=-1))


def _within_groups(items: np.ndarray) -> np.ndarray:
    """Mean distance over the distinct pairs of each group, `items` `(groups, K, D)`."""
    k = items.shape[1]
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    return np.mean([_distance(items[:, a], items[:, b]) for a, b in pairs], axis=0)


def _all_pairs(items: np.ndarray, chunk: int = 64) -> float:
    """Mean distance over the distinct pairs of `items` `(m, D)`, `chunk` rows at a time
    (float items through their Gram matrix, so memory stays `chunk * m`)."""
    m, width = items.shape
    floating = not np.issubdtype(items.dtype, np.integer)
    x = items.astype(np.float64) if floating else items
    norms = np.sum(x * x, axis=-1) if floating else None
    total = 0.0
    for start in range(0, m, chunk):
        rows = x[start : start + chunk]
        if floating:
            assert norms is not None
            squared = norms[start : start + chunk, None] + norms[None, :] - 2 * rows @ x.T
            d = np.sqrt(np.clip(squared, 0.0, None) / width)
        else:
            d = _distance(rows[:, None, :], x[None, :, :])
        upper = np.arange(m)[None, :] > np.arange(start, start + len(rows))[:, None]
        total += float(np.sum(d[upper]))
    return total / (m * (m - 1) / 2)


def sample_diversity(samples: Any, real: Any = None, *, max_real: int = 1000) -> dict[str, float]:
    """The spread among the K samples drawn from each source: the mean distance between
    two samples of the same source, averaged over the sources. 0 for a collapse (every
    sample alike, as a deterministic decoder gives).

    The distance is the root-mean-square difference per value for float items (images,
    waveforms, features) and the share of differing positions for integer items
    (token ids). With `real`, the same mean distance between two different real items
    (over the distinct pairs of the first `max_real`) is returned beside it as a
    reference: the spread of the data itself.

    **Arguments:**

    - `samples`: `(n, K, ...)` K >= 2 samples of each of n sources.
    - `real`: optional `(m, ...)` real items of the same item shape (m >= 2).
    - `max_real`: keyword only. At most this many real items are compared.

    **Returns:**

    `{"diversity": ...}`, with `"real_diversity"` when `real` is given.

    ```python
    >>> import numpy as np
    >>> samples = np.zeros((2, 3, 4), np.float32)  # a collapse: 3 identical samples
    >>> sample_diversity(samples)
    {'diversity': 0.0}
    >>> sample_diversity(samples + np.arange(3.0, dtype=np.float32)[None, :, None],
    ...                  real=np.eye(4, dtype=np.float32))
    {'diversity': 1.3333333333333333, 'real_diversity': 0.7071067811865476}

    ```
    """
    check_int(max_real, "max_real", minimum=2)
    array = np.asarray(samples)
    if array.ndim < 3:
        raise ValueError(
            f"`samples` must be (n, K, ...) with K >= 2 samples per source, got shape {array.shape}"
        )
    if array.shape[1] < 2:
        raise ValueError(f"`samples` must hold K >= 2 samples per source, got K = {array.shape[1]}")
    if array.shape[0] < 1:
        raise ValueError(f"`samples` must hold at least one source, got shape {array.shape}")
    _check_finite(array, "samples")
    out = {"diversity": float(np.mean(_within_groups(array.reshape(*array.shape[:2], -1))))}
    if real is not None:
        reference = np.asarray(real)
        if reference.shape[1:] != array.shape[2:]:
            raise ValueError(
                f"`real` must be items of shape {array.shape[2:]} like the samples', got "
                f"shape {reference.shape}"
            )
        if reference.shape[0] < 2:
            raise ValueError(f"`real` must hold at least 2 items, got {reference.shape[0]}")
        _check_finite(reference, "real")
        reference = reference[:max_real].reshape(min(len(reference), max_real), -1)
        out["real_diversity"] = _all_pairs(reference)
    return out

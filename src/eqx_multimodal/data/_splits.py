"""Train / validation / test splits of a dataset by a seeded hash of each sample's id.

A sample's split depends only on its id and the seed, so adding samples to a folder never
moves another sample across splits, and no id can be in two splits.
"""

import hashlib
from collections.abc import Sequence

import numpy as np

from .._validation import check_real, check_seed


SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def _position(sample_id: str, seed: int) -> float:
    """Where the id falls in [0, 1): the first 64 bits of sha256(f"{seed}:{id}")."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_indices(
    ids: Sequence[str],
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> dict[str, np.ndarray]:
    """The indices of the samples of each split, `{"train", "validation", "test"}`.

    Sample `i` goes to the split whose share of [0, 1) holds the hash of `ids[i]`, so the
    splits have about `fractions` of the samples each.

    **Arguments:**

    - `ids`: the sample ids, distinct strings.
    - `seed`: keyword only. Another seed, another split.
    - `fractions`: keyword only. The train, validation and test shares, summing to 1.

    **Returns:**

    A dict from split name to the sorted indices of its samples.

    ```python
    >>> splits = split_indices([f"{i:03d}" for i in range(1000)], seed=0)
    >>> [len(splits[name]) for name in ("train", "validation", "test")]
    [801, 117, 82]

    ```
    """
    check_seed(seed)
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray):
        raise TypeError(f"`ids` must be a list of sample ids (strings), got {ids!r:.60}")
    ids = [str(i) if isinstance(i, np.str_) else i for i in ids]
    for i in ids:
        if not isinstance(i, str):
            raise TypeError(f"`ids` must hold strings, got {i!r:.40}")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = next(i for i in ids if i in seen or seen.add(i))
        raise ValueError(
            f"`ids` must be distinct (a split follows each id), but {repeated!r} repeats"
        )
    shares = [check_real(f, "fractions", low=0.0, high=1.0) for f in fractions]
    if len(shares) != len(SPLITS) or abs(sum(shares) - 1.0) > 1e-9:
        raise ValueError(
            f"`fractions` must be {len(SPLITS)} shares (train, validation, test) summing to 1, "
            f"got {list(fractions)}"
        )
    edges = np.cumsum(shares)[:-1]
    position = np.asarray([_position(i, seed) for i in ids], dtype=np.float64)
    which = np.searchsorted(edges, position, side="right")
    return {name: np.flatnonzero(which == k) for k, name in enumerate(SPLITS)}

from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from ._dataset import _leading_length, AbstractDataset


# The rank of one sample of each known modality (other names are accepted as they come).
_SAMPLE_RANK = {"image": 3, "text": 1, "audio": 1}


class PairedDataset(AbstractDataset):
    """Explicitly paired arrays of several modalities, with optional alignment scores.

    Item `i` is `{modality: data[modality][i], ..., "alignment_scores": alignments[i],
    "pairs": pairs}`, as in the guide's `MultiModalPairedDataset`.

    ```python
    >>> import jax.numpy as jnp
    >>> dataset = PairedDataset(
    ...     {"image": jnp.zeros((4, 8, 8, 3)), "text": jnp.zeros((4, 5), jnp.int32)},
    ...     pairs=[("image", "text")],
    ... )
    >>> sample = dataset[0]
    >>> sample["image"].shape, float(sample["alignment_scores"]), sample["pairs"]
    ((8, 8, 3), 1.0, [('image', 'text')])

    ```
    """

    data: dict[str, Array]
    alignments: Float[Array, " n"]
    pairs: tuple[tuple[str, str], ...] = eqx.field(static=True)

    def __init__(
        self,
        data: Mapping[str, ArrayLike],
        pairs: Sequence[Sequence[str]] | None = None,
        alignments: ArrayLike | None = None,
    ):
        """**Arguments:**

        - `data`: a dict from modality name to an array whose leading axis indexes the
            samples; every modality must have the same number of samples. `"image"` must
            be `(N, H, W, C)`, `"text"` `(N, length)` of integers and `"audio"`
            `(N, samples)`.
        - `pairs`: which modalities are paired, as `(a, b)` tuples of names in `data`.
            Defaults to every pair of modalities, in the order of `data`.
        - `alignments`: optional alignment scores of shape `(N,)` in [0, 1]; default 1.
        """
        n = _leading_length(data, "data")
        arrays = {}
        for name, array in data.items():
            array = jnp.asarray(array)
            rank = _SAMPLE_RANK.get(name)
            if rank is not None and array.ndim != rank + 1:
                raise ValueError(
                    f"`data[{name!r}]` must have {rank + 1} dimensions (samples first), "
                    f"got shape {array.shape}"
                )
            if name == "text" and not jnp.issubdtype(array.dtype, jnp.integer):
                raise TypeError(f"`data['text']` must hold integer tokens, got {array.dtype}")
            if jnp.issubdtype(array.dtype, jnp.inexact) and not bool(jnp.all(jnp.isfinite(array))):
                raise ValueError(f"`data[{name!r}]` contains NaN or infinite values")
            arrays[name] = array
        self.data = arrays
        self.pairs = _check_pairs(pairs, tuple(arrays))
        if alignments is None:
            self.alignments = jnp.ones((n,), dtype=jnp.float32)
        else:
            scores = np.asarray(alignments)
            if scores.shape != (n,):
                raise ValueError(
                    f"`alignments` must have shape ({n},), one score a sample, got {scores.shape}"
                )
            if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(
                scores.dtype, np.complexfloating
            ):
                raise TypeError(f"`alignments` must be real numbers, got dtype {scores.dtype}")
            bad = ~((scores >= 0) & (scores <= 1))
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"`alignments` must be in [0, 1], got {scores[i]} at index {i}")
            self.alignments = jnp.asarray(scores, dtype=jnp.float32)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.data)

    def __len__(self) -> int:
        return self.alignments.shape[0]

    def take(self, indices: Int[Array, " batch"]) -> dict[str, Array]:
        batch = {name: array[indices] for name, array in self.data.items()}
        batch["alignment_scores"] = self.alignments[indices]
        return batch

    def _present(self, arrays: dict[str, Any]) -> dict[str, Any]:
        return {**arrays, "pairs": [tuple(p) for p in self.pairs]}


def _check_pairs(
    pairs: Sequence[Sequence[str]] | None, modalities: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    if pairs is None:
        return tuple((a, b) for i, a in enumerate(modalities) for b in modalities[i + 1 :])
    if isinstance(pairs, str) or not isinstance(pairs, Sequence):
        raise TypeError(f"`pairs` must be a list of (modality, modality) tuples, got {pairs!r}")
    out = []
    for pair in pairs:
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"`pairs` entries must be (modality, modality) tuples, got {pair!r}")
        a, b = pair
        for name in (a, b):
            if name not in modalities:
                raise ValueError(
                    f"`pairs` names modality {name!r}, which is not in `data` "
                    f"(it has {list(modalities)})"
                )
        if a == b:
            raise ValueError(f"`pairs` pairs a modality with itself: {tuple(pair)!r}")
        out.append((a, b))
    return tuple(out)

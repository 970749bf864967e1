from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._types import pair_names
from .._validation import check_indices
from ..modalities import get_modality, registered_modalities
from ._dataset import AbstractDataset, leading_length
from ._manifest import natural
from ._spec import DataSpec, has_vocabulary, spec_fields


def _item(name: str, what: str) -> tuple[tuple[int | None, ...], bool]:
    """The shape of one item of `name` (a registered modality or `"latent"`; `None`
    for any size), and whether it holds integer ids."""
    if name == "latent":
        return (None,), False
    if name not in registered_modalities():
        raise ValueError(
            f"`{what}` has the key {name!r}; the keys are registered modalities "
            f"{list(registered_modalities())} and optionally 'latent'"
        )
    modality = get_modality(name)
    return modality.shape, modality.holds_ids


def check_arrays(data: Mapping[str, ArrayLike], what: str = "data") -> dict[str, np.ndarray]:
    """The rules every paired array obeys, wherever it comes from (your arrays, a folder):
    registered modalities (and `"latent"`), one sample axis and the item's rank, real
    finite floats, or non-negative int32-range integers for modalities of ids (text)."""
    leading_length(data, what)
    out = {}
    for name, value in data.items():
        item, ids = _item(name, what)
        rank = len(item)
        array = np.asarray(value)
        where = f"`{what}[{name!r}]`"
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{where} must hold real numbers, got dtype {array.dtype}")
        if array.ndim != rank + 1:
            raise ValueError(
                f"{where} must have {rank + 1} dimensions (samples first), got shape {array.shape}"
            )
        if any(e is not None and e != s for e, s in zip(item, array.shape[1:])):
            raise ValueError(f"{where}: a {name!r} item has shape {item}, got {array.shape[1:]}")
        if ids:
            if array.dtype.kind not in "iu":
                raise TypeError(f"{where} must hold integer tokens, got {array.dtype}")
            bad = (array < 0) | (array >= 2**31)
            if bad.any():
                i = int(np.flatnonzero(bad.any(axis=1))[0])
                raise ValueError(
                    f"{where} tokens must be in [0, 2**31), got {array[i][bad[i]][0]} in sample {i}"
                )
            array = array.astype(np.int32)
        else:
            if array.dtype.kind != "f":
                raise TypeError(f"{where} must hold floating-point values, got dtype {array.dtype}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{where} contains NaN or infinite values")
            array = array.astype(np.float32)
        out[name] = array
    return out


class PairedDataset(AbstractDataset):
    """Explicitly paired arrays of several modalities: your own data, in memory.

    Item `i` is `{modality: data[modality][i], ..., "alignment_score": alignments[i],
    "pairs": pairs}`, as in the guide's `MultiModalPairedDataset` (whose spelling,
    `"alignment_scores"`, `eqx_multimodal.nnx` keeps), plus `"latent"` when
    the data has latents, `"label"` (an index into `label_names`, -1 for none) when it has
    labels, and `"present"` (`{modality: bool}`) when some samples lack a modality.

    ```python
    >>> import jax.numpy as jnp
    >>> dataset = PairedDataset(
    ...     {"image": jnp.zeros((4, 8, 8, 3)), "text": jnp.zeros((4, 5), jnp.int32)},
    ...     pairs=[("image", "text")],
    ... )
    >>> sample = dataset[0]
    >>> sample["image"].shape, float(sample["alignment_score"]), sample["pairs"]
    ((8, 8, 3), 1.0, [('image', 'text')])

    ```
    """

    data: dict[str, Array]
    alignments: Float[Array, " n"]
    present: dict[str, Bool[Array, " n"]] | None
    labels: Int[Array, " n"] | None
    pairs: tuple[tuple[str, str], ...] = eqx.field(static=True)
    label_names: tuple[str, ...] | None = eqx.field(static=True)
    ids: tuple[str, ...] | None = eqx.field(static=True)
    vocab_size: int | None = eqx.field(static=True)
    pad_id: int | None = eqx.field(static=True)
    sample_rate: int | None = eqx.field(static=True)

    def __init__(
        self,
        data: Mapping[str, ArrayLike],
        pairs: Sequence[Sequence[str]] | None = None,
        alignments: ArrayLike | None = None,
        *,
        present: Mapping[str, ArrayLike] | None = None,
        labels: Sequence[str | None] | None = None,
        label_names: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        vocab_size: int | None = None,
        pad_id: int | None = None,
        sample_rate: int | None = None,
    ):
        """**Arguments:**

        - `data`: a dict from modality name (`"image"`, `"text"`, `"audio"`, or one you
            registered) to an array whose leading axis indexes the samples, and
            optionally `"latent"`. Every entry has the same number of samples.
            `"image"` is `(N, H, W, C)` floats, `"text"` `(N, length)` non-negative
            integers, `"audio"` `(N, samples)` floats, `"latent"` `(N, dim)` floats,
            a registered modality `(N, *item shape)` of its dtype; floats must be finite.
        - `pairs`: which modalities are paired, as `(a, b)` tuples of names in `data`.
            Defaults to every pair of modalities, in the order of `data`.
        - `alignments`: optional alignment scores of shape `(N,)` in [0, 1]; default 1.
        - `present`: keyword only. Optional `{modality: (N,) bools}`: which samples have
            that modality (the others hold placeholder values). Default: all.
        - `labels`: keyword only. Optional class labels, one a sample (`None` for a
            sample without one).
        - `label_names`: keyword only. The classes, in the order of their indices
            (default: the labels' distinct values, sorted); every label must be one.
        - `ids`: keyword only. Optional distinct sample ids (default `"0"`, `"1"`, ...).
        - `vocab_size`, `pad_id`: keyword only. The token vocabulary and the padding
            id, for models built from `spec` (default: the largest token + 1, no padding).
        - `sample_rate`: keyword only. The audio's rate in Hz (needed for `spec`).
        """
        arrays = check_arrays(data)
        n = leading_length(arrays, "data")
        self.data = {name: jnp.asarray(array) for name, array in arrays.items()}
        modalities = tuple(m for m in self.data if m != "latent")
        if not modalities:
            raise ValueError(
                f"`data` must hold at least one of {list(registered_modalities())}, "
                f"got {list(data)}"
            )
        self.pairs = check_pairs(pairs, modalities)
        self.alignments = _alignments(alignments, n)
        self.present = _presence(present, modalities, n)
        self.label_names, self.labels = _labels(labels, label_names, n)
        self.ids = _ids(ids, n)
        # The default vocabulary: that of the ids of the modality whose spec has one.
        of_ids = [m for m in modalities if has_vocabulary(m)]
        self.vocab_size = _vocab(vocab_size, arrays.get(of_ids[0]) if of_ids else None)
        self.pad_id = pad_id
        self.sample_rate = sample_rate
        if self.vocab_size is not None and pad_id is not None and not 0 <= pad_id < self.vocab_size:
            raise ValueError(f"`pad_id` must be in [0, vocab_size={self.vocab_size}), got {pad_id}")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities of the data (its keys other than `"latent"`)."""
        return tuple(m for m in self.data if m != "latent")

    @property
    def complete(self) -> bool:
        """Whether every sample has every modality."""
        return self.present is None

    @property
    def spec(self) -> DataSpec:
        """The shapes of one example of each modality (what a model is built for)."""
        has = self.modalities
        given = {"vocab_size": self.vocab_size, "pad_id": self.pad_id}
        given["sample_rate"] = self.sample_rate
        fields: dict[str, Any] = {}
        for m in has:
            own = spec_fields(m)
            if own is None:
                continue
            fields |= own.fields_of(tuple(self.data[m].shape[1:]))
            for name in own.required:
                if given.get(name) is None:
                    raise ValueError(
                        f"this dataset has {m} but no `{name}`; pass {name}=... to "
                        "PairedDataset to build a model for it"
                    )
                fields[name] = given[name]
        return DataSpec(
            modalities=has,
            **fields,
            pad_id=self.pad_id,
            shapes={m: tuple(self.data[m].shape[1:]) for m in has},
        )

    def __len__(self) -> int:
        return self.alignments.shape[0]

    def take(self, indices: Int[Array, " batch"]) -> dict[str, Any]:
        batch: dict[str, Any] = {name: array[indices] for name, array in self.data.items()}
        batch["alignment_score"] = self.alignments[indices]
        if self.labels is not None:
            batch["label"] = self.labels[indices]
        if self.present is not None:
            batch["present"] = {name: mask[indices] for name, mask in self.present.items()}
        return batch

    def _present(self, arrays: dict[str, Any]) -> dict[str, Any]:
        return {**arrays, "pairs": [tuple(p) for p in self.pairs]}

    def subset(self, indices: Sequence[int] | np.ndarray) -> "PairedDataset":
        """The samples at `indices` (in that order), as a new dataset."""
        rows = check_indices(indices, len(self))
        labels = None
        if self.labels is not None:
            assert self.label_names is not None
            names = self.label_names
            labels = [names[j] if j >= 0 else None for j in np.asarray(self.labels)[rows]]
        return PairedDataset(
            {name: np.asarray(array)[rows] for name, array in self.data.items()},
            pairs=self.pairs,
            alignments=np.asarray(self.alignments)[rows],
            present=None
            if self.present is None
            else {m: np.asarray(v)[rows] for m, v in self.present.items()},
            labels=labels,
            label_names=self.label_names,
            ids=None if self.ids is None else [self.ids[i] for i in rows],
            vocab_size=self.vocab_size,
            pad_id=self.pad_id,
            sample_rate=self.sample_rate,
        )


def check_pairs(
    pairs: Sequence[Sequence[str]] | None, modalities: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """`pairs` checked against `modalities`; default every pair of them."""
    if pairs is None:
        return tuple(pair_names(modalities))
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


def _alignments(alignments: ArrayLike | None, n: int) -> Float[Array, " n"]:
    if alignments is None:
        return jnp.ones((n,), dtype=jnp.float32)
    scores = np.asarray(alignments)
    if scores.shape != (n,):
        raise ValueError(
            f"`alignments` must have shape ({n},), one score a sample, got {scores.shape}"
        )
    if scores.dtype.kind not in "biuf":
        raise TypeError(f"`alignments` must be real numbers, got dtype {scores.dtype}")
    bad = ~((scores >= 0) & (scores <= 1))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"`alignments` must be in [0, 1], got {scores[i]} at index {i}")
    return jnp.asarray(scores, dtype=jnp.float32)


def _presence(
    present: Mapping[str, ArrayLike] | None, modalities: tuple[str, ...], n: int
) -> dict[str, Bool[Array, " n"]] | None:
    if present is None:
        return None
    if not isinstance(present, Mapping):
        raise TypeError(f"`present` must be a dict of boolean arrays, got {present!r:.60}")
    masks = {}
    for name in modalities:
        mask = np.asarray(present.get(name, np.ones(n, bool)))
        if mask.shape != (n,) or mask.dtype != np.bool_:
            raise ValueError(
                f"`present[{name!r}]` must be ({n},) booleans, got {mask.dtype} {mask.shape}"
            )
        masks[name] = mask
    unknown = sorted(set(present) - set(modalities))
    if unknown:
        raise ValueError(f"`present` names {unknown}, which `data` does not have")
    if all(mask.all() for mask in masks.values()):
        return None
    empty = [i for i in range(n) if not any(mask[i] for mask in masks.values())]
    if empty:
        raise ValueError(f"`present`: sample {empty[0]} has none of {list(modalities)}")
    return {name: jnp.asarray(mask) for name, mask in masks.items()}


def _labels(
    labels: Sequence[str | None] | None, names: Sequence[str] | None, n: int
) -> tuple[tuple[str, ...] | None, Int[Array, " n"] | None]:
    if labels is None:
        if names is not None:
            raise ValueError("`label_names` goes with `labels`")
        return None, None
    if isinstance(labels, str) or len(labels) != n:
        raise ValueError(f"`labels` must be {n} labels, one a sample, got {labels!r:.80}")
    for label in labels:
        if label is not None and not isinstance(label, str):
            raise TypeError(f"`labels` must be strings (or None), got {label!r}")
    found = {label for label in labels if label is not None}
    if names is None:
        names = tuple(sorted(found, key=natural))
    else:
        names = tuple(names)
        unknown = sorted(found - set(names), key=natural)
        if unknown or len(set(names)) != len(names):
            raise ValueError(
                f"`label_names` must be distinct and name every label; {unknown[:3]} are not "
                f"in {list(names)[:10]}"
            )
    index = {name: i for i, name in enumerate(names)}
    codes = np.asarray([-1 if label is None else index[label] for label in labels], np.int32)
    return names, jnp.asarray(codes)


def _ids(ids: Sequence[str] | None, n: int) -> tuple[str, ...] | None:
    if ids is None:
        return None
    ids = tuple(ids)
    if len(ids) != n or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"`ids` must be {n} strings, one a sample")
    if len(set(ids)) != n:
        raise ValueError("`ids` must be distinct")
    return ids


def _vocab(vocab_size: int | None, text: np.ndarray | None) -> int | None:
    if text is None:
        return None
    largest = int(text.max()) + 1 if text.size else 1
    if vocab_size is None:
        return largest
    if not isinstance(vocab_size, int) or vocab_size < largest:
        raise ValueError(
            f"`vocab_size` must be an integer above every token (largest {largest - 1}), "
            f"got {vocab_size!r}"
        )
    return vocab_size

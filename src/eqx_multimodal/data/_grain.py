"""A grain `RandomAccessDataSource` view of any dataset of this package.

grain (`pip install 'eqx-multimodal[grain]'`) is imported by the user's pipeline, never
by this module: `GrainSource` only has the methods grain's protocol asks for, so
importing `eqx_multimodal` does not import grain.
"""

import hashlib
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._dataset import AbstractDataset
from ._loader import PairedFolder


Record = dict[str, Any]


class _HostKey:
    """A PRNG key as plain data, for pickling."""

    def __init__(self, impl: str, data: np.ndarray):
        self.impl = impl
        self.data = data


def _to_host(x: Any) -> Any:
    if isinstance(x, jax.Array):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return _HostKey(str(jax.random.key_impl(x)), np.asarray(jax.random.key_data(x)))
        return np.asarray(x)
    return x


def _to_device(x: Any) -> Any:
    if isinstance(x, _HostKey):
        return jax.random.wrap_key_data(jnp.asarray(x.data), impl=x.impl)
    if isinstance(x, np.ndarray):
        return jnp.asarray(x)
    return x


def _use_cpu_if_fresh() -> None:
    """In a process that has not used JAX yet (a grain worker), use only the CPU.

    Records are small, and a worker that opened the accelerator would take its memory
    from the training process.
    """
    try:
        from jax._src import xla_bridge

        if not xla_bridge.backends_are_initialized():
            jax.config.update("jax_platforms", "cpu")
    except (ImportError, AttributeError):  # pragma: no cover - JAX internals moved
        pass


class GrainSource:
    """A grain `RandomAccessDataSource` over a dataset: record `i` is item `i` of the
    dataset as a dict of NumPy arrays.

    It works with any `AbstractDataset` (`SyntheticDataset`, `ArrayDataset`,
    `PairedDataset`) and with a `PairedFolder`, whose files it reads record by record
    (`PairedFolder.read`): `grain.MapDataset.source(GrainSource(dataset))` starts a pipeline,
    and `grain.DataLoader(data_source=GrainSource(dataset), ...)` reads it in worker
    processes. It is picklable (arrays and keys travel as NumPy data; a worker makes
    records on its CPU), and its `repr` identifies the data, so a grain checkpoint
    restores only onto the same dataset. Non-array metadata (a `PairedDataset`'s
    `"pairs"`) is not part of a record.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig, SyntheticDataset
    >>> config = SyntheticConfig(image_shape=(8, 8, 3), modalities=["image", "text"])
    >>> source = GrainSource(SyntheticDataset(config, 100, key=jr.key(0)))
    >>> record = source[7]
    >>> len(source), record["image"].shape, type(record["text"]).__name__
    (100, (8, 8, 3), 'ndarray')

    ```
    """

    def __init__(self, dataset: AbstractDataset | PairedFolder):
        """**Arguments:**

        - `dataset`: an `AbstractDataset` or a `PairedFolder`.
        """
        if not isinstance(dataset, AbstractDataset | PairedFolder):
            raise TypeError(
                f"`dataset` must be an AbstractDataset (SyntheticDataset, ArrayDataset, "
                f"PairedDataset) or a PairedFolder, got {dataset!r}"
            )
        self._dataset = dataset
        self._length = len(dataset)
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return self._length

    @property
    def dataset(self) -> AbstractDataset | PairedFolder:
        """The dataset whose records this source reads."""
        return self._dataset

    def _index(self, index: Any) -> int:
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"record indices must be integers, got {index!r}") from None
        if not -self._length <= i < self._length:
            raise IndexError(f"index {i} is out of range for a dataset of {self._length} records")
        return i + self._length if i < 0 else i

    def __getitem__(self, index: int) -> Record:
        """Record `index`: the item's arrays, as NumPy arrays."""
        if isinstance(self._dataset, PairedFolder):
            return self._dataset.read(self._index(index))
        batch = self._dataset.take(jnp.asarray([self._index(index)], dtype=jnp.int32))
        return {
            name: jax.tree.map(lambda v: np.asarray(v[0]), value) for name, value in batch.items()
        }

    def _getitems(self, indices: Sequence[int]) -> list[Record]:
        """Several records made as one batch (grain's batched reads)."""
        rows = np.asarray([self._index(i) for i in indices], dtype=np.int32)
        if len(rows) == 0:
            return []
        if isinstance(self._dataset, PairedFolder):
            return [self._dataset.read(int(i)) for i in rows]
        batch = {
            k: jax.tree.map(np.asarray, v) for k, v in self._dataset._take_padded(rows).items()
        }
        return [
            {name: jax.tree.map(lambda v: v[j], value) for name, value in batch.items()}
            for j in range(len(rows))
        ]

    def __repr__(self) -> str:
        if self._fingerprint is None and isinstance(self._dataset, PairedFolder):
            self._fingerprint = self._dataset.fingerprint()
        if self._fingerprint is None:
            digest = hashlib.sha1(type(self._dataset).__qualname__.encode())
            for leaf in jax.tree.leaves(jax.tree.map(_to_host, self._dataset)):
                if isinstance(leaf, _HostKey):
                    digest.update(leaf.impl.encode())
                    leaf = leaf.data
                array = np.ascontiguousarray(leaf)
                digest.update(f"{array.dtype}{array.shape}".encode())
                digest.update(array.tobytes())
            # Static fields (shapes, modalities) are part of the tree's structure.
            digest.update(str(jax.tree.structure(self._dataset)).encode())
            self._fingerprint = digest.hexdigest()[:16]
        name = type(self._dataset).__name__
        return f"GrainSource({name}, {self._length} records, fingerprint={self._fingerprint})"

    def __getstate__(self) -> dict[str, Any]:
        host = jax.tree.map(_to_host, self._dataset)
        return {"dataset": host, "length": self._length, "fingerprint": self._fingerprint}

    def __setstate__(self, state: dict[str, Any]) -> None:
        _use_cpu_if_fresh()
        self._dataset = jax.tree.map(
            _to_device, state["dataset"], is_leaf=lambda x: isinstance(x, _HostKey)
        )
        self._length = state["length"]
        self._fingerprint = state["fingerprint"]

import abc
from collections.abc import Iterator, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray

from .._validation import check_fits, check_int, check_key, is_traced


Sample = dict[str, Any]

# Index arrays are int32 and items fold their index into a key as uint32.
MAX_SAMPLES = 2**31 - 1


class AbstractDataset(eqx.Module):
    """A finite, indexable collection of samples (dicts of arrays).

    Subclasses say how to make a batch of items from an index array (`take`); this
    class gives them Python indexing (negative indices, slices, index arrays),
    iteration, epochs of batches and random batches.
    """

    @abc.abstractmethod
    def __len__(self) -> int:
        raise NotImplementedError

    @abc.abstractmethod
    def take(self, indices: Int[Array, " batch"]) -> dict[str, Array]:
        """The items at `indices` (in range, non-negative; may be traced), stacked."""
        raise NotImplementedError

    def _present(self, arrays: dict[str, Any]) -> Sample:
        """Hook: add non-array metadata to an item or batch."""
        return arrays

    @property
    def item_bytes(self) -> int | None:
        """The bytes of one item when they are made on demand (None: held in memory)."""
        return None

    def __getitem__(self, index: Any) -> Sample:
        """An item for an integer, a batch for a slice or an integer array.

        Negative indices count from the end; an index out of range raises IndexError.
        """
        n = len(self)
        if is_traced(index):
            index = jnp.asarray(index)
            index = eqx.error_if(
                index, (index < -n) | (index >= n), f"index out of range for {n} samples"
            )
            index = jnp.where(index < 0, index + n, index)
            if index.ndim == 0:
                return self._present(_select(0, self.take(index[None])))
            return self._present(self.take(index))
        if isinstance(index, slice):
            return self._present(self._take_padded(np.arange(n)[index]))
        if isinstance(index, bool):
            raise TypeError(f"dataset indices must be integers or slices, got {index!r}")
        indices = np.asarray(index)
        if not np.issubdtype(indices.dtype, np.integer) or indices.ndim > 1:
            raise TypeError(
                f"dataset indices must be integers, slices or 1-D integer arrays, got {index!r}"
            )
        bad = (indices < -n) | (indices >= n)
        if np.any(bad):
            first = int(indices[bad].flat[0])
            raise IndexError(f"index {first} is out of range for a dataset of {n} samples")
        indices = np.where(indices < 0, indices + n, indices)
        if indices.ndim == 0:
            return self._present(_select(0, self.take(jnp.asarray(indices[None], jnp.int32))))
        return self._present(self._take_padded(indices))

    def _take_padded(self, indices: np.ndarray, size: int | None = None) -> dict[str, Array]:
        """`take`, padded to `size` items (then cut) so that compiled code is reused."""
        count = len(indices)
        size = count if size is None else size
        if self.item_bytes is not None:
            check_fits(size * self.item_bytes, f"{size:,} items", "index")
        padded = np.zeros(size, dtype=np.int32)
        padded[:count] = indices
        batch = self.take(jnp.asarray(padded))
        if count == size:
            return batch
        return _select(slice(0, count), batch)

    def __iter__(self) -> Iterator[Sample]:
        """The items in order, made a chunk at a time."""
        for batch in self.batches(64, shuffle=False):
            size = len(next(iter(batch.values())))
            arrays = {k: v for k, v in batch.items() if isinstance(v, jax.Array | dict)}
            for i in range(size):
                yield self._present(_select(i, arrays))

    def batches(
        self,
        batch_size: int,
        *,
        key: PRNGKeyArray | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> "Batches":
        """One epoch of batches.

        **Arguments:**

        - `batch_size`: items a batch.
        - `key`: keyword only. The key of the shuffle; required when `shuffle=True`.
        - `shuffle`: keyword only. Visit the items in a random order.
        - `drop_last`: keyword only. Drop a last batch smaller than `batch_size`;
            otherwise it is yielded as it is.

        **Returns:**

        An iterable of batches (dicts of arrays with a leading batch axis) with a length.
        """
        return Batches(self, batch_size, key=key, shuffle=shuffle, drop_last=drop_last)

    def random_batch(self, batch_size: int, *, key: PRNGKeyArray) -> Sample:
        """`batch_size` distinct items drawn uniformly at random with `key`."""
        batch_size = check_int(batch_size, "batch_size")
        check_key(key)
        n = len(self)
        if batch_size > n:
            raise ValueError(
                f"`batch_size` must be at most the dataset size {n} for a batch of distinct "
                f"items, got {batch_size}"
            )
        indices = jr.choice(key, n, (batch_size,), replace=False).astype(jnp.int32)
        return self._present(self.take(indices))


def _select(index: Any, batch: dict[str, Any]) -> dict[str, Any]:
    # A dict comprehension at the top, not `jax.tree.map`, which would sort the keys.
    return {name: jax.tree.map(lambda x: x[index], value) for name, value in batch.items()}


class Batches:
    """One epoch of a dataset's batches; iterable, with a length."""

    def __init__(
        self,
        dataset: AbstractDataset,
        batch_size: int,
        *,
        key: PRNGKeyArray | None,
        shuffle: bool,
        drop_last: bool,
    ):
        """Made by `AbstractDataset.batches`, whose arguments these are."""
        self.batch_size = check_int(batch_size, "batch_size")
        if shuffle and key is None:
            raise ValueError("`key` is required when `shuffle=True`; pass key=... or shuffle=False")
        if key is not None:
            check_key(key)
        # A batch never holds more than the dataset (and is computed at that size).
        self.batch_size = min(self.batch_size, max(len(dataset), 1))
        if dataset.item_bytes is not None:
            check_fits(self.batch_size * dataset.item_bytes, "a batch", "batch_size")
        self.dataset = dataset
        self.key = key
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            assert self.key is not None
            return np.asarray(jr.permutation(self.key, n))
        return np.arange(n)

    def __iter__(self) -> Iterator[Sample]:
        order = self.indices()
        for b in range(len(self)):
            chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = self.dataset._take_padded(chunk, self.batch_size)
            yield self.dataset._present(batch)


def leading_length(arrays: Mapping[str, ArrayLike], what: str) -> int:
    """The number of samples: the leading length that every array must share."""
    if not isinstance(arrays, Mapping) or len(arrays) == 0:
        raise ValueError(f"`{what}` must be a non-empty dict of arrays, got {arrays!r}")
    lengths = {}
    for name, array in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"`{what}` keys must be strings, got {name!r}")
        shape = np.shape(array)
        if len(shape) == 0:
            raise ValueError(f"`{what}[{name!r}]` must have a leading sample axis, got a scalar")
        lengths[name] = shape[0]
    first_name, first = next(iter(lengths.items()))
    for name, length in lengths.items():
        if length != first:
            raise ValueError(
                f"all modalities must have the same number of samples: {first_name!r} has "
                f"{first}, {name!r} has {length}"
            )
    return first


class ArrayDataset(AbstractDataset):
    """A dataset held in memory: a dict of arrays sharing their leading axis."""

    arrays: dict[str, Array]

    def __init__(self, arrays: Mapping[str, ArrayLike]):
        """**Arguments:**

        - `arrays`: a dict from name to an array whose leading axis indexes the items;
            every array has the same number of items.
        """
        leading_length(arrays, "arrays")
        self.arrays = {name: jnp.asarray(array) for name, array in arrays.items()}

    def __len__(self) -> int:
        return next(iter(self.arrays.values())).shape[0]

    def take(self, indices: Int[Array, " batch"]) -> dict[str, Array]:
        return {name: array[indices] for name, array in self.arrays.items()}

"""The batches of a training run over a dataset of your own, streamed through grain.

Batch `k` is a pure function of the seed and `k`: epoch `e = k // steps_per_epoch`
visits the dataset in the permutation drawn from `(seed, e)`, batch `k` takes its next
`batch_size` rows (a last, smaller batch is dropped), and an audio clip longer than the
model's input is cut at a window drawn from `(seed, k, row)`. So a run resumed at step
`k` reads exactly what the uninterrupted run read, and the stream's state is its step.
grain reads the batches ahead in threads (`grain.MapDataset.to_iter_dataset`): the
files of a `PairedFolder` are decoded while the model trains, and nothing holds more
than a few batches at a time.
"""

from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from .._validation import check_int, check_seed, shown
from ._grain import GrainSource
from ._loader import PairedFolder
from ._paired import PairedDataset


GRAIN_HINT = 'training on a dataset streams it through grain: pip install "eqx-multimodal[files]"'


def _grain() -> Any:
    try:
        import grain
    except ImportError as error:
        raise ImportError(GRAIN_HINT) from error
    return grain


def _stack(records: list[dict[str, Any]]) -> dict[str, Any]:
    return jax.tree.map(lambda *values: np.stack(values), *records)


class BatchStream:
    """The training batches of a dataset, from any step on.

    ```python
    >>> import numpy as np
    >>> dataset = PairedDataset({"text": np.arange(20).reshape(10, 2)})
    >>> stream = BatchStream(dataset, 4, seed=0)
    >>> stream.steps_per_epoch, sorted(stream.rows(0).tolist() + stream.rows(1).tolist())
    (2, [0, 2, 3, 4, 5, 6, 7, 9])
    >>> next(iter(stream.batches(1, 2)))["text"].shape
    (4, 2)

    ```
    """

    def __init__(
        self,
        dataset: PairedDataset | PairedFolder | GrainSource,
        batch_size: int,
        *,
        seed: int,
        threads: int = 2,
        local: tuple[int, int] | None = None,
    ):
        """**Arguments:**

        - `dataset`: a `PairedDataset` (in memory), a `PairedFolder` (files read as the
            batches are made) or a `GrainSource` over either.
        - `batch_size`: rows a batch; at most the dataset's size.
        - `seed`: keyword only. The seed of the epochs' permutations and the crops.
        - `threads`: keyword only. grain's reading threads.
        - `local`: keyword only. Read only rows `[start, stop)` of each batch (this
            process's, `process_rows`); default all.
        """
        read = dataset.dataset if isinstance(dataset, GrainSource) else dataset
        if not isinstance(read, PairedDataset | PairedFolder):
            raise TypeError(
                "`dataset` must be a PairedDataset, a PairedFolder or a GrainSource over one, "
                f"got {dataset!r:.80}"
            )
        self.dataset = dataset = read
        self.batch_size = check_int(batch_size, "batch_size")
        self.seed = check_seed(seed)
        self.threads = check_int(threads, "threads", minimum=0)
        if self.batch_size > len(dataset):
            raise ValueError(
                f"`{shown('batch_size')}` {self.batch_size} is more than the {len(dataset)} "
                "samples to train on; choose a smaller batch"
            )
        self.steps_per_epoch = len(dataset) // self.batch_size
        self.local = (0, self.batch_size) if local is None else tuple(local)
        self._orders: dict[int, np.ndarray] = {}
        self._arrays = None
        if isinstance(dataset, PairedDataset):
            rows = jax.numpy.arange(len(dataset))
            self._arrays = jax.tree.map(np.asarray, dataset.take(rows))

    def rows(self, step: int) -> np.ndarray:
        """The dataset rows of the batch of `step`."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = self._order(epoch)
        return order[position * self.batch_size : (position + 1) * self.batch_size]

    def _order(self, epoch: int) -> np.ndarray:
        """The permutation of `epoch` (the last two are kept: grain's threads read the
        batches of two epochs around their boundary)."""
        cached = self._orders.get(epoch)
        if cached is None:
            cached = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
            self._orders = {
                **{k: v for k, v in self._orders.items() if k == epoch - 1},
                epoch: cached,
            }
        return cached

    def batch(self, step: int) -> dict[str, Any]:
        """The batch of `step` (its `local` rows): a dict of NumPy arrays (`"present"` a
        dict of masks)."""
        first, last = self.local
        rows = self.rows(step)[first:last]
        if self._arrays is not None:
            return jax.tree.map(lambda a: a[rows], self._arrays)
        assert isinstance(self.dataset, PairedFolder)
        return _stack(
            [
                self.dataset.read(int(row), rng=np.random.default_rng([self.seed, step, first + j]))
                for j, row in enumerate(rows)
            ]
        )

    def position(self, step: int) -> dict[str, int]:
        """Where the stream is before `step`: its epoch and batch within the epoch."""
        epoch, batch = divmod(step, self.steps_per_epoch)
        return {"step": step, "epoch": epoch, "batch": batch}

    def batches(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        """The batches of steps `start .. stop - 1`, read ahead by grain's threads."""
        grain = _grain()
        steps = grain.MapDataset.range(start, stop).map(self.batch)
        options = grain.ReadOptions(num_threads=self.threads, prefetch_buffer_size=2 * self.threads)
        return iter(steps.to_iter_dataset(options))

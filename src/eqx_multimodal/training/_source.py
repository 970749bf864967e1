"""The data-source seam: what `fit` trains on, as one object.

`fit` asks a source for everything that depends on the kind of data: the shapes the
model reads (`spec`), how one step's batch is made or read and the step taken
(`feed`), the validation items, what the run records of its data (`data.json`, and
the data's position in each checkpoint's index) and whether a resumed run may continue
on it. `fit` itself then has no branch on the kind of data. Two final sources:

- `SyntheticSource`: data a run makes itself (a data config, such as the guide's
    `SyntheticConfig`), item `i` of step `k` a pure function of the training stream's
    key, `k` and `i`, made inside the jitted step;
- `DatasetSource`: a dataset of your own (arrays, a paired folder, or grain over
    either), read on the host by a `BatchStream` and placed on the mesh.
"""

import abc
import pathlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh

from .._io import read_json
from .._progress import phase
from ..data import (
    BatchStream,
    DataSpec,
    GrainSource,
    PairedDataset,
    PairedFolder,
)
from ..distributed import process_rows, shard_batch
from ._config import TrainConfig
from ._data_config import AbstractDataConfig
from ._folder import DATA
from ._step import (
    make_batch_step,
    make_step,
    stream_key,
    TrainState,
    VALIDATION_STREAM,
)


Dataset = PairedDataset | PairedFolder | GrainSource


class Feed(NamedTuple):
    """A source's steps of one run (`AbstractDataSource.feed`).

    - `advance(state) -> (state, metrics)`: the next step, on the next batch.
    - `position(step) -> dict | None`: where the data stands before `step`, recorded in
        the checkpoint index (None: nothing to record).
    """

    advance: Callable[[TrainState], tuple[TrainState, dict[str, Any]]]
    position: Callable[[int], dict[str, Any] | None]


class AbstractDataSource(eqx.Module):
    """What `fit` trains on: a seam between the training loop and the data.

    A source says the shapes of its data (`spec`), refuses a config it cannot serve
    (`check`), makes the steps of a run from any step on (`feed`; a step's batch
    depends only on the seed and the step, so a resumed run reproduces the
    uninterrupted one), gives the validation items, records what a run needs of it in
    `data.json` (`record`) and checks that a resumed run trains on the same data
    (`check_resume`). Subclass it to train on data of another kind; see
    `SyntheticSource` and `DatasetSource`.
    """

    @property
    @abc.abstractmethod
    def spec(self) -> DataSpec:
        """The shapes of the data the model reads."""

    @abc.abstractmethod
    def check(self, config: TrainConfig) -> None:
        """Raise a one-line ValueError when `config` cannot train on this source."""

    @abc.abstractmethod
    def feed(self, config: TrainConfig, mesh: Mesh, start: int, stop: int) -> Feed:
        """The steps `start .. stop - 1` of a run of `config` on `mesh`."""

    @abc.abstractmethod
    def validation_items(self, config: TrainConfig, *, talk: bool) -> dict[str, Any] | None:
        """The items (NumPy arrays by modality) a run validates on, None for none;
        `talk` shows what is happening on stderr."""

    def folders(self) -> tuple[pathlib.Path, ...]:
        """The folders the data is read from (a run's folder may be none of them)."""
        return ()

    def record(self) -> dict[str, Any] | None:
        """What a run records of its data in `data.json` (None: no such file)."""
        return None

    def check_resume(self, out: pathlib.Path) -> None:
        """Raise a one-line ValueError when the run in `out` trained on other data."""


class SyntheticSource(AbstractDataSource):
    """Data a run makes itself, inside the jitted step (`make_step`), from a data config
    (`AbstractDataConfig`, such as the guide's `SyntheticConfig`): the batch of step `k`
    is made from the training stream's key folded with `k` (`config.batch`; the guide's:
    items `0 .. batch_size - 1` at the run's alignment, its curriculum if any);
    validation uses the `val_gallery` items of the validation stream (`config.gallery`).
    Nothing is recorded beside `config.json`, which holds the whole data config.

    ```python
    >>> from eqx_multimodal.guide import SyntheticConfig
    >>> source = SyntheticSource(SyntheticConfig())
    >>> source.spec.modalities
    ('image', 'text', 'audio')

    ```
    """

    config: AbstractDataConfig

    def __check_init__(self):
        if not isinstance(self.config, AbstractDataConfig):
            raise TypeError(
                f"`config` must be a data config (such as a SyntheticConfig), got "
                f"{self.config!r:.80}"
            )

    @property
    def spec(self) -> DataSpec:
        return self.config.spec

    def check(self, config: TrainConfig) -> None:
        if config.data != self.config:
            raise ValueError(
                "the source's synthetic data differs from the config's `data`; build the "
                "source from `config.data`"
            )

    def feed(self, config: TrainConfig, mesh: Mesh, start: int, stop: int) -> Feed:
        return Feed(make_step(config, mesh), lambda step: None)

    def validation_items(self, config: TrainConfig, *, talk: bool) -> dict[str, Any]:
        with phase(f"building the validation gallery of {config.val_gallery}", enabled=talk):
            key = stream_key(config.seed, VALIDATION_STREAM)
            return self.config.gallery(config.val_gallery, key=key)


def _unwrap(dataset: Any) -> PairedDataset | PairedFolder:
    if isinstance(dataset, GrainSource):
        dataset = dataset.dataset
    if not isinstance(dataset, PairedDataset | PairedFolder):
        raise TypeError(
            "a dataset to train on must be a PairedDataset, a PairedFolder or a GrainSource "
            f"over one, got {dataset!r:.80}"
        )
    return dataset


def _fingerprint(dataset: PairedDataset | PairedFolder) -> str:
    if isinstance(dataset, PairedFolder):
        return dataset.fingerprint()
    return repr(GrainSource(dataset)).rsplit("=", 1)[-1].rstrip(")")


def data_record(dataset: PairedDataset | PairedFolder) -> dict[str, Any]:
    """What a run records of the dataset it trained on (`data.json`): enough to read new
    data as training read it (the folder's transforms and tokenizer), and to refuse to
    resume on other data."""
    record: dict[str, Any] = {
        "fingerprint": _fingerprint(dataset),
        "samples": len(dataset),
        "label_names": None if dataset.label_names is None else list(dataset.label_names),
    }
    if isinstance(dataset, PairedFolder):
        record["path"] = str(dataset.path.resolve())
        record["options"] = dataset.options()
        if dataset.audio_rule is not None:
            record["audio_length_rule"] = dataset.audio_rule
    return record


class DatasetSource(AbstractDataSource):
    """A dataset of your own, read on the host: the batch of step `k` is the rows of
    an epoch's permutation drawn from the seed (`BatchStream`), read ahead by grain's
    threads and placed on the mesh (each process reads only its own rows). The
    checkpoint index records the stream's position; `data.json` the dataset's
    fingerprint, size, label names (and a folder's path and reading options), with
    `info` beside them.

    ```python
    >>> import numpy as np
    >>> source = DatasetSource(PairedDataset({"text": np.zeros((8, 4), np.int32)}))
    >>> source.spec.modalities, source.record()["samples"]
    (('text',), 8)

    ```
    """

    dataset: PairedDataset | PairedFolder
    validation: PairedDataset | PairedFolder | None
    info: dict[str, Any] | None

    def __init__(
        self,
        dataset: Dataset,
        validation: Dataset | None = None,
        info: Mapping[str, Any] | None = None,
    ):
        """**Arguments:**

        - `dataset`: a `PairedDataset`, a `PairedFolder` (its files read as the batches
            are made) or a `GrainSource` over either.
        - `validation`: the dataset to validate on (its first `val_gallery` samples);
            without it, the run is not validated.
        - `info`: more to record in `data.json` (e.g. how the data was split).
        """
        self.dataset = _unwrap(dataset)
        self.validation = None if validation is None else _unwrap(validation)
        self.info = None if info is None else dict(info)

    @property
    def spec(self) -> DataSpec:
        return self.dataset.spec

    def check(self, config: TrainConfig) -> None:
        if config.synthetic:
            raise ValueError(
                "`data` and `validation` are for runs on a dataset; this config's data is "
                "synthetic (made inside the step)"
            )
        if self.spec != config.spec:
            raise ValueError(
                f"the dataset's shapes {self.spec} differ from the config's {config.spec}; "
                "build the config from `dataset.spec`"
            )

    def folders(self) -> tuple[pathlib.Path, ...]:
        found = [getattr(d, "path", None) for d in (self.dataset, self.validation)]
        return tuple(p for p in found if p is not None)

    def feed(self, config: TrainConfig, mesh: Mesh, start: int, stop: int) -> Feed:
        local = process_rows(config.batch_size, mesh) if jax.process_count() > 1 else None
        stream = BatchStream(self.dataset, config.batch_size, seed=config.seed, local=local)
        batch_step = make_batch_step(config, mesh)
        batches = stream.batches(start, stop)

        def advance(state: TrainState, /) -> Any:
            batch = next(batches)
            if local is not None:
                batch = shard_batch(batch, mesh)
            return batch_step(state, batch)

        return Feed(advance, stream.position)

    def validation_items(self, config: TrainConfig, *, talk: bool) -> dict[str, Any] | None:
        if self.validation is None:
            return None
        with phase("reading the validation samples", enabled=talk):
            data = self.validation
            head = data.subset(np.arange(min(config.val_gallery, len(data))))
            loaded = head.load() if isinstance(head, PairedFolder) else head
            return {k: jax.tree.map(np.asarray, v) for k, v in loaded[:].items() if k != "pairs"}

    def record(self) -> dict[str, Any]:
        return {**data_record(self.dataset), **(self.info or {})}

    def check_resume(self, out: pathlib.Path) -> None:
        recorded = read_json(out / DATA) if (out / DATA).exists() else {}
        if recorded.get("fingerprint") != _fingerprint(self.dataset):
            raise ValueError(
                f"cannot resume: the dataset differs from the one the run trained on "
                f"({DATA} has fingerprint {recorded.get('fingerprint')!r})"
            )


def data_source(
    config: TrainConfig,
    data: Dataset | AbstractDataSource | None = None,
    validation: Dataset | None = None,
    info: Mapping[str, Any] | None = None,
) -> AbstractDataSource:
    """The source a run of `config` trains on: `data` when it is a source already, else
    the data `config.data` makes (a data config, such as a `SyntheticConfig`) or the dataset `data`
    (with `validation` and `info`, see `DatasetSource`); checked against `config`.

    ```python
    >>> type(data_source(TrainConfig(steps=10))).__name__
    'SyntheticSource'

    ```
    """
    if isinstance(data, AbstractDataSource):
        if validation is not None or info is not None:
            raise ValueError(
                "`validation` and `data_info` belong to the source when `data` is a source; "
                "pass them to its constructor"
            )
        source = data
    elif isinstance(config.data, AbstractDataConfig):
        if data is not None or validation is not None:
            raise ValueError(
                "`data` and `validation` are for runs on a dataset; this config's data is "
                "synthetic (made inside the step)"
            )
        source = SyntheticSource(config.data)
    else:
        if data is None:
            raise ValueError("`data` is required: this config trains on a dataset (a DataSpec)")
        source = DatasetSource(data, validation, info)
    source.check(config)
    return source

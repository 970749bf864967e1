"""Data a run makes itself: the data-config seam of `TrainConfig.data`.

A run trains either on a dataset of yours (`TrainConfig.data` its `DataSpec`, the
dataset passed to `fit`) or on data it makes inside the jitted step from the seed and
the step, described by a data config: a JSON-able value that says the shapes, makes a
step's batch on the mesh and makes held-out galleries. The guide's `SyntheticConfig`
is one, registered by the guide through `register_data_config`, as a config of yours
would be; it is the default data of a `TrainConfig`.
"""

import abc
import importlib
import threading
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array, Int, PRNGKeyArray

from .._validation import shown
from ..data import DataSpec
from ..modalities._modality import NAME


class AbstractDataConfig(eqx.Module):
    """Data a run makes itself, inside the jitted step (`TrainConfig.data`).

    A subclass is an `eqx.Module` (its array leaves, such as an alignment, may be traced)
    that names its `kind` (how `config.json` records it) and says:

    - `spec`: the shapes of its data (what a model is built for);
    - `batch(config, step, *, key, mesh)`: the batch of a training step, made inside the
        jitted step, and what to report beside the loss;
    - `gallery(size, *, key)`: `size` held-out items in memory (validation, evaluation),
        and `evaluation_record()`, what an evaluation records of the data;
    - `to_dict()` / `from_dict(fields)`: JSON values;
    - optionally `default_towers` (the tower family a model of it gets unless told) and
        `check(config)` (refuse a run it cannot serve, in one line).

    Register it with `register_data_config(cls)`; see the guide's `SyntheticConfig`.
    """

    kind: eqx.AbstractClassVar[str]

    @property
    @abc.abstractmethod
    def spec(self) -> DataSpec:
        """The shapes of one example of each modality."""

    @property
    def default_towers(self) -> str | None:
        """The tower family a model of this data gets unless told (None: `"generic"`)."""
        return None

    def check(self, config: Any) -> None:
        """Raise a one-line ValueError when a run of `config` (a `TrainConfig`) asks for
        what this data cannot serve. By default a curriculum (`curriculum_start`), which
        only data whose batch follows it serves (the guide's)."""
        if config.curriculum_start is not None:
            raise ValueError(
                f"`curriculum_start` needs data whose alignment moves in training (the "
                f"guide's SyntheticConfig); this data ({self.kind}) has no curriculum"
            )

    @abc.abstractmethod
    def batch(
        self, config: Any, step: Int[Array, ""], *, key: PRNGKeyArray, mesh: Mesh
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """The batch of training step `step` (traced) of a run of `config`:
        `config.batch_size` rows of each modality, made from `key` inside the jitted
        step and split along `mesh`'s `"data"` axis (each device makes its own rows);
        and metrics to report beside the loss (e.g. the step's alignment)."""

    @abc.abstractmethod
    def gallery(self, size: int, *, key: PRNGKeyArray) -> dict[str, np.ndarray]:
        """`size` held-out items (the stream of `key`), as NumPy arrays in memory."""

    def evaluation_record(self) -> dict[str, Any]:
        """What an evaluation on this data records of it (JSON values)."""
        return {}

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON values that `from_dict` reads back."""

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> "AbstractDataConfig":
        """The config that `to_dict` described (JSON lists read as tuples, as static
        fields must be hashable)."""
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()
        }
        return cls(**values)


class UnknownDataConfigError(ValueError):
    """A data config `kind` that no registration made known (a run's `config.json` of a
    config of yours: import the module that registers it)."""


#: The package that registers the guide's data (the default of a `TrainConfig`): loaded
#: on the first lookup, so that this registry (below the guide) imports nothing of it.
GUIDE_DATA = "eqx_multimodal.guide"

_lock = threading.Lock()
_kinds: dict[str, type[AbstractDataConfig]] = {}
_state: dict[str, Any] = {"loaded": False, "default": None}


def _load() -> None:
    """Load the guide's data config (once; outside the lock: its import registers it)."""
    if not _state["loaded"]:
        importlib.import_module(GUIDE_DATA)
        _state["loaded"] = True


def register_data_config(
    cls: type[AbstractDataConfig], *, default: bool = False
) -> type[AbstractDataConfig]:
    """Make the data config `cls` known by its `kind`, so that `config.json` reads it
    back (`TrainConfig.from_dict`). Returns `cls`.

    `default`: keyword only, it is the data of a `TrainConfig()` and of a `config.json`
    that names no `kind` (every run recorded before kinds). The guide registers its
    `SyntheticConfig` so, first (it is loaded before any other registration); a second
    default is refused.
    """
    if not (isinstance(cls, type) and issubclass(cls, AbstractDataConfig)):
        raise TypeError(f"`cls` must be a subclass of AbstractDataConfig, got {cls!r:.60}")
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not NAME.fullmatch(kind):
        raise ValueError(
            f"a data config's `kind` is lower-case letters, digits and '_', got {kind!r}"
        )
    _load()  # the guide's first: its kind is taken, and it is the default
    with _lock:
        known = _kinds.get(kind)
        if known is not None and known is not cls:
            raise ValueError(f"a data config of kind {kind!r} is already registered")
        if default and _state["default"] not in (None, cls):
            raise ValueError(
                f"the default data config is {_state['default'].__name__} already (a config "
                "without a kind reads as it); register yours without default=True"
            )
        _kinds[kind] = cls
        if default:
            _state["default"] = cls
    return cls


def data_config_kind(kind: str) -> type[AbstractDataConfig]:
    """The data config registered as `kind`; else a one-line ValueError."""
    _load()
    if kind not in _kinds:
        raise UnknownDataConfigError(
            f"`{shown('data')}` has kind {kind!r}, which no data config registers (registered: "
            f"{sorted(_kinds)}; import the module that registers yours, --import MODULE)"
        )
    return _kinds[kind]


def default_data_config() -> type[AbstractDataConfig]:
    """The class of a `TrainConfig`'s default data (the guide's `SyntheticConfig`)."""
    _load()
    cls = _state["default"]
    assert cls is not None, "the guide registers the default data"
    return cls


def data_to_dict(data: AbstractDataConfig) -> dict[str, Any]:
    """`data` as `config.json` records it: its fields, and its `kind` unless it is the
    default's (so that the default run's config reads as it always has)."""
    fields = data.to_dict()
    if type(data) is not default_data_config():
        fields = {"kind": data.kind, **fields}
    return fields


def data_from_dict(fields: Mapping[str, Any]) -> AbstractDataConfig:
    """The data config `data_to_dict` recorded."""
    values = dict(fields)
    kind = values.pop("kind", None)
    cls = default_data_config() if kind is None else data_config_kind(kind)
    return cls.from_dict(values)

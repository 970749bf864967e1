import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .._io import loads
from .._validation import check_choice, check_int, check_real, check_seed, shown
from ..data import DataSpec
from ..losses import LossWeights
from ..nn import default_towers, FUSIONS, get_towers
from ._data_config import AbstractDataConfig, data_from_dict, data_to_dict, default_data_config


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Cross-modal generation beside the shared latent space (`TrainConfig.generation`):
    one generator per modality, from the fused latents of any subset of the others
    (`nn.make_generators`), trained with `losses.generation_loss`.

    - `fusion`: one of `nn.FUSIONS` (`"attention"`, `"gated"`, `"early"`, `"late"`).
    - `z_dim`, `width`: the VAE's `z` and the fused condition's size.
    - `weight`: the weight of the generation loss beside the shared-latent loss.
    - `kl_weight`: the weight of the KL term (per-pixel / per-bin / per-token losses
        are means, so it is small).
    - `cycle`: the weight of cycle consistency of generated items (0: off): those whose
        generator decodes the item itself, of real values (images; not the built-in
        audio generator's spectrogram, nor text).
    - `stop_gradient`: the generators read the latents without sending gradients into
        the encoders, so the shared latent space trains as without generation.
    - `rows`: use the first `rows` rows of each batch (default all).
    - `frozen_steps`: the last `frozen_steps` of the run's `steps` train the generators
        alone, on the shared-latent model as it then is (frozen), with a learning-rate
        schedule of their own (warm-up and cosine decay). In the joint steps the
        generators learn from latents that move while the encoders train; here they
        learn from the final ones. Default 0 (the generators train only jointly).

    ```python
    >>> GenerationConfig(**GenerationConfig(fusion="gated").to_dict()).fusion
    'gated'

    ```
    """

    fusion: str = "attention"
    z_dim: int = 16
    width: int = 128
    weight: float = 1.0
    kl_weight: float = 0.005
    cycle: float = 0.0
    stop_gradient: bool = True
    rows: int | None = None
    frozen_steps: int = 0

    def __post_init__(self):
        check_choice(self.fusion, "fusion", FUSIONS)
        check_int(self.z_dim, "z_dim")
        check_int(self.width, "width")
        check_real(self.weight, "weight", low=0.0)
        check_real(self.kl_weight, "kl_weight", low=0.0)
        check_real(self.cycle, "cycle", low=0.0)
        if not isinstance(self.stop_gradient, bool):
            raise TypeError(f"`stop_gradient` must be a bool, got {self.stop_gradient!r}")
        if self.rows is not None:
            check_int(self.rows, "rows")
        check_int(self.frozen_steps, "frozen_steps", minimum=0, maximum=MAX_COUNT)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description: the arguments of `GenerationConfig(**d)`."""
        return dataclasses.asdict(self)


#: The largest count a config holds (steps, batch size, ...): the step counter is int32.
MAX_COUNT = 2**31 - 1


def _default_data() -> AbstractDataConfig:
    # `kind` is a class variable of the data config, not an argument (pyright reads the
    # abstract class variable as a field)
    return default_data_config()()  # pyright: ignore[reportCallIssue]


def default_loss() -> LossWeights:
    """A run's default loss: contrastive only, no decoders (as the command line's
    default; they cost a third of a step and did not change retrieval)."""
    return LossWeights(reconstruction={})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved as `config.json` in the run's folder.

    Data: `data` is a data config (an `AbstractDataConfig`: data made fresh every step
    from the seed, by default the guide's `SyntheticConfig`, whose alignment is the
    target alignment) or the `DataSpec` of a dataset of your own, passed to `fit` (the
    spec fixes the model's shapes).
    Loss: `loss` defaults to the contrastive terms alone (no
    decoders), as on the command line; pass `LossWeights(...)` for reconstruction.
    Optimisation: AdamW with linear warm-up and cosine decay, gradient clipping by global
    norm. `temperature` is the initial inverse temperature (default: the model's, 10
    for normalised latents and 1 for the `"sets"` towers). `rerank_top` and
    `rerank_weight` are the evaluation's re-ranking (`evaluate`'s, with a re-ranker
    such as the guide's `SetReranker` of image <-> audio for the `"sets"` towers).
    Curriculum (the guide's synthetic data): when `curriculum_start` is set, the training alignment
    moves linearly from it to the target over the first `curriculum_fraction` of the
    steps (validation and evaluation always use the target).

    It round-trips through JSON and compares equal:

    ```python
    >>> config = TrainConfig(steps=100)
    >>> TrainConfig.from_json(config.to_json()) == config
    True

    ```
    """

    data: AbstractDataConfig | DataSpec = dataclasses.field(default_factory=_default_data)
    towers: str | None = None
    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    seed: int = 0
    latent_dim: int = 128
    d_model: int = 256
    temperature: float | None = None
    rerank_top: int = 64
    rerank_weight: float = 1.0
    loss: LossWeights = dataclasses.field(default_factory=default_loss)
    curriculum_start: float | None = None
    curriculum_fraction: float = 0.5
    log_every: int = 50
    eval_every: int = 500
    checkpoint_every: int = 500
    checkpoint_seconds: float = 180.0
    keep: int = 3
    val_gallery: int = 500
    generation: GenerationConfig | None = None

    def __post_init__(self):
        if isinstance(self.data, Mapping):  # as read from JSON, or written by hand
            object.__setattr__(self, "data", _data_from_dict(self.data))
        if not isinstance(self.data, AbstractDataConfig | DataSpec):
            raise TypeError(
                f"`data` must be a data config (such as a SyntheticConfig) or a DataSpec, got "
                f"{self.data!r:.80}"
            )
        if len(self.spec.modalities) < 2:
            raise ValueError(
                f"`{shown('modalities')}` {list(self.spec.modalities)} is one modality: there "
                "is nothing to align (a shared-latent run needs two or more, e.g. image,audio)"
            )
        towers = default_towers(self.data) if self.towers is None else self.towers
        family = get_towers(towers)
        object.__setattr__(self, "towers", towers)
        check_int(self.steps, "steps", maximum=MAX_COUNT)
        check_int(self.batch_size, "batch_size", minimum=2, maximum=MAX_COUNT)
        check_real(self.learning_rate, "learning_rate", low=0.0, low_open=True)
        check_int(self.warmup_steps, "warmup_steps", minimum=0, maximum=MAX_COUNT)
        check_real(self.weight_decay, "weight_decay", low=0.0)
        check_real(self.clip_norm, "clip_norm", low=0.0, low_open=True)
        check_seed(self.seed)
        check_int(self.latent_dim, "latent_dim", maximum=MAX_COUNT)
        check_int(self.d_model, "d_model", maximum=MAX_COUNT)
        if self.temperature is not None:
            check_real(self.temperature, "temperature", low=0.0, low_open=True)
        check_int(self.rerank_top, "rerank_top", minimum=0, maximum=MAX_COUNT)
        check_real(self.rerank_weight, "rerank_weight", low=0.0)
        if isinstance(self.loss, Mapping):
            object.__setattr__(self, "loss", LossWeights(**self.loss))
        anchor = getattr(self.loss, "anchor", None)
        if anchor is not None and anchor not in self.spec.modalities:
            raise ValueError(
                f"`{shown('anchor')}` {anchor!r} is not a modality of the data "
                f"({list(self.spec.modalities)})"
            )
        if not isinstance(self.loss, LossWeights):
            raise TypeError(f"`loss` must be a LossWeights, got {self.loss!r}")
        if self.curriculum_start is not None:
            if not isinstance(self.data, AbstractDataConfig):  # a data config checks its own
                raise ValueError("`curriculum_start` needs synthetic data (a SyntheticConfig)")
            check_real(self.curriculum_start, "curriculum_start", low=0.0, high=1.0)
        check_real(self.curriculum_fraction, "curriculum_fraction", low=0.0, high=1.0)
        check_int(self.log_every, "log_every", maximum=MAX_COUNT)
        check_int(self.eval_every, "eval_every", maximum=MAX_COUNT)
        check_int(self.checkpoint_every, "checkpoint_every", maximum=MAX_COUNT)
        check_real(self.checkpoint_seconds, "checkpoint_seconds", low=0.0, low_open=True)
        check_int(self.keep, "keep", maximum=MAX_COUNT)
        check_int(self.val_gallery, "val_gallery", minimum=2, maximum=MAX_COUNT)
        if isinstance(self.generation, Mapping):
            object.__setattr__(self, "generation", GenerationConfig(**self.generation))
        if self.generation is not None:
            if not isinstance(self.generation, GenerationConfig):
                raise TypeError(
                    f"`generation` must be a GenerationConfig or None, got {self.generation!r}"
                )
            if len(self.spec.modalities) < 2:
                raise ValueError(
                    f"`generation` needs two modalities or more, the data has "
                    f"{list(self.spec.modalities)}"
                )
            if self.generation.frozen_steps >= self.steps:
                raise ValueError(
                    f"`generation.frozen_steps` {self.generation.frozen_steps} must be below "
                    f"`steps` {self.steps}: the shared-latent model trains in the steps before"
                )
        if family.check is not None:
            family.check(self)  # a run its towers cannot serve: a one-line error
        if isinstance(self.data, AbstractDataConfig):
            self.data.check(self)  # a run its data cannot serve: a one-line error

    @property
    def frozen_steps(self) -> int:
        """How many of the run's last `steps` train the generators alone
        (`GenerationConfig.frozen_steps`; 0 without generation)."""
        return 0 if self.generation is None else self.generation.frozen_steps

    @property
    def synthetic(self) -> bool:
        """Whether the run trains on data it makes itself (a data config, such as the
        guide's `SyntheticConfig`), not on a dataset."""
        return isinstance(self.data, AbstractDataConfig)

    @property
    def spec(self) -> DataSpec:
        """The shapes of the data the model reads."""
        return self.data.spec if isinstance(self.data, AbstractDataConfig) else self.data

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.spec.modalities)

    @property
    def alignment(self) -> float:
        """The target alignment of the synthetic data."""
        alignment = getattr(self.data, "alignment", None)
        if alignment is None:
            raise ValueError("this run's data has no alignment (the guide's synthetic data has)")
        return float(alignment)

    def synthetic_config(self) -> AbstractDataConfig:
        """The data config of a run that makes its data (an error for a run on a
        dataset)."""
        if not isinstance(self.data, AbstractDataConfig):
            raise ValueError("this run trains on a dataset, not on synthetic data")
        return self.data

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (and validated again). Towers that were the
        default for the old data become the default for new `data`."""
        if "data" in changes and "towers" not in changes:
            if self.towers == default_towers(self.data):
                changes["towers"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (see `from_dict`)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if isinstance(self.data, AbstractDataConfig):
            fields["data"] = data_to_dict(self.data)
        else:
            fields["data"] = {"dataset": self.data.to_dict()}
        fields["loss"] = self.loss.to_dict()
        # Absent rather than null when off, so that other runs' configs are unchanged.
        if self.generation is None:
            del fields["generation"]
        else:
            fields["generation"] = self.generation.to_dict()
        return fields

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> "TrainConfig":
        if not isinstance(fields, Mapping):
            raise ValueError(f"a training config must be a JSON object, got {fields!r:.60}")
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown training config field(s) {sorted(unknown)}")
        values = dict(fields)
        if "loss" in fields:
            loss = fields["loss"]
            if not isinstance(loss, Mapping):
                raise ValueError(f"`loss` must be a JSON object, got {loss!r:.60}")
            values["loss"] = LossWeights(**loss)
        generation = fields.get("generation")
        if generation is not None and not isinstance(generation, Mapping):
            raise ValueError(f"`generation` must be a JSON object or null, got {generation!r:.60}")
        if generation is not None:
            values["generation"] = GenerationConfig(**generation)
        if isinstance(fields.get("data"), Mapping):
            values["data"] = _data_from_dict(fields["data"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        return cls.from_dict(loads(text, "config.json"))


def _data_from_dict(fields: Mapping[str, Any]) -> AbstractDataConfig | DataSpec:
    if "dataset" in fields:
        return DataSpec.from_dict(fields["dataset"])
    return data_from_dict(fields)

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .._types import MODALITIES
from .._validation import check_choice, check_int, check_modalities, check_real
from ..data._config import SyntheticConfig
from ..losses._shared_latent import LossWeights


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved as `config.json` beside checkpoints.

    Data: the synthetic data of `data` (its alignment is the target alignment), fresh
    every step from the seed. Optimisation: AdamW with linear warm-up and cosine decay,
    gradient clipping by global norm. Curriculum: when `curriculum_start` is set, the
    training alignment moves linearly from it to the target over the first
    `curriculum_fraction` of the steps (validation and evaluation always use the
    target).
    """

    data: Mapping[str, Any] = dataclasses.field(default_factory=lambda: SyntheticConfig().to_dict())
    steps: int = 2500
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    seed: int = 0
    latent_dim: int = 128
    d_model: int = 256
    temperature: float = 10.0
    loss: LossWeights = dataclasses.field(default_factory=LossWeights)
    curriculum_start: float | None = None
    curriculum_fraction: float = 0.5
    log_every: int = 50
    eval_every: int = 500
    checkpoint_every: int = 500
    val_gallery: int = 500

    def __post_init__(self):
        self.synthetic_config()  # validates the data fields
        check_int(self.steps, "steps")
        check_int(self.batch_size, "batch_size", minimum=2)
        check_real(self.learning_rate, "learning_rate", low=0.0, low_open=True)
        check_int(self.warmup_steps, "warmup_steps", minimum=0)
        check_real(self.weight_decay, "weight_decay", low=0.0)
        check_real(self.clip_norm, "clip_norm", low=0.0, low_open=True)
        check_int(self.seed, "seed", minimum=0)
        check_int(self.latent_dim, "latent_dim")
        check_int(self.d_model, "d_model")
        check_real(self.temperature, "temperature", low=0.0, low_open=True)
        if not isinstance(self.loss, LossWeights):
            raise TypeError(f"`loss` must be a LossWeights, got {self.loss!r}")
        if self.curriculum_start is not None:
            check_real(self.curriculum_start, "curriculum_start", low=0.0, high=1.0)
        check_real(self.curriculum_fraction, "curriculum_fraction", low=0.0, high=1.0)
        check_int(self.log_every, "log_every")
        check_int(self.eval_every, "eval_every")
        check_int(self.checkpoint_every, "checkpoint_every")
        check_int(self.val_gallery, "val_gallery", minimum=2)

    @property
    def modalities(self) -> tuple[str, ...]:
        return check_modalities(self.data["modalities"], "modalities", MODALITIES)

    @property
    def alignment(self) -> float:
        return float(self.data["alignment"])

    def synthetic_config(self) -> SyntheticConfig:
        return SyntheticConfig(**self.data)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        fields["data"] = dict(self.data)
        fields["loss"] = self.loss.to_dict()
        return json.dumps(fields, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        fields = json.loads(text)
        if not isinstance(fields, dict):
            raise ValueError("a training config must be a JSON object")
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown training config field(s) {sorted(unknown)}")
        loss = fields.pop("loss", {})
        check_choice(type(loss).__name__, "loss", ("dict",))
        data = fields.pop("data", SyntheticConfig().to_dict())
        data = dict(data)
        if "image_shape" in data:
            data["image_shape"] = tuple(data["image_shape"])
        if "modalities" in data:
            data["modalities"] = tuple(data["modalities"])
        return cls(data=data, loss=LossWeights(**loss), **fields)


def data_dict(config: SyntheticConfig) -> dict[str, Any]:
    out = config.to_dict()
    out["image_shape"] = tuple(out["image_shape"])
    out["modalities"] = tuple(out["modalities"])
    return out

"""The guide's synthetic data, described: `SyntheticConfig`, the default data of a run
(a data config of the core's `training.AbstractDataConfig`, registered by the guide)."""

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._types import ScalarLike
from .._validation import (
    check_int,
    check_modalities,
    check_real,
    check_shape,
    is_traced,
    shown,
)
from ..data._spec import DataSpec, spec_fields
from ..modalities import get_modality, registered_modalities
from ..training import AbstractDataConfig, register_data_config
from ..training._evaluate import CHUNK


#: The most values one example of a modality may have (int32 indices and tokens).
MAX_VALUES = 2**31 - 1
#: The modalities the guide's formulas render (and its towers, `"guide"` and `"sets"`,
#: are fitted to).
GUIDE_MODALITIES = ("image", "text", "audio")
#: The guide's tones lie in 100-2000 Hz; audio must be sampled at twice the highest.
HIGHEST_TONE = 2000.0
NYQUIST_RATE = 4000


def num_audio_samples(sample_rate: int, duration: float | int) -> int:
    """`int(sample_rate * duration)` as the guide writes it, without float artefacts.

    `int(8000 * 0.29)` is 2319 because the product is 2319.9999999999995; a tolerance
    far below one sample absorbs that.
    """
    return math.floor(sample_rate * duration + 1e-6)


class SyntheticConfig(AbstractDataConfig):
    """The validated, frozen configuration of the synthetic aligned data.

    Every static field fixes a shape, so two configurations that differ only in
    `alignment` share compiled code: `alignment` is an array leaf of this pytree (it may
    even be traced or vmapped, e.g. for a curriculum), everything else is static.

    ```python
    >>> config = SyntheticConfig(modalities=["audio", "image"], alignment=0.5)
    >>> config.modalities, config.spec.num_audio_samples
    (('image', 'audio'), 16000)

    ```
    """

    modalities: tuple[str, ...] = eqx.field(static=True)
    alignment: Float[Array, ""]
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    vocab_size: int = eqx.field(static=True)
    seq_length: int = eqx.field(static=True)
    sample_rate: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)
    latent_dim: int = eqx.field(static=True)
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = eqx.field(static=True)

    kind: ClassVar[str] = "synthetic"

    def __init__(
        self,
        modalities: Sequence[str] = GUIDE_MODALITIES,
        alignment: ScalarLike = 0.8,
        image_shape: Sequence[int] = (32, 32, 3),
        vocab_size: int = 1000,
        seq_length: int = 50,
        sample_rate: int = 16000,
        duration: float | int = 1.0,
        latent_dim: int = 32,
        shapes: Any = (),  # a mapping (or pairs), checked by `_own_shapes`
    ):
        """**Arguments:**

        - `modalities`: a non-empty, duplicate-free selection of the registered
            modalities that can be rendered from the latent: `"image"`, `"text"`,
            `"audio"`, and any of yours registered with a `render` function
            (`eqx_multimodal.modalities.Modality`). Stored in the order of registration
            (the built-ins first, in that order).
        - `alignment`: in [0, 1]. 0 makes every modality independent of the latent, 1
            removes the noise from image and audio.
        - `image_shape`: `(height, width, channels)`.
        - `vocab_size`, `seq_length`: the token vocabulary and the sequence length.
        - `sample_rate` (Hz) and `duration` (s): the waveform has
            `int(sample_rate * duration)` samples, at least one.
        - `latent_dim`: the size of the shared standard-normal latent.
        - `shapes`: the item shape of each of your modalities, `{"depth": (16, 16, 1)}`;
            not needed for one whose registered `shape` has no `None`.

        A bad value raises a ValueError or TypeError that names the argument and the
        value (as the caller spells it: see `eqx_multimodal._validation.argument_names`).
        """
        _check_renderable(modalities)
        self.modalities = check_modalities(modalities, "modalities", renderable_modalities())
        self.alignment = _check_alignment(alignment)
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        if math.prod(self.image_shape) > MAX_VALUES:
            raise ValueError(
                f"`{shown('image_shape')}` {self.image_shape} has {math.prod(self.image_shape):,} "
                f"values an image; at most {MAX_VALUES:,}"
            )
        # Tokens are int32.
        self.vocab_size = check_int(vocab_size, "vocab_size", maximum=MAX_VALUES)
        self.seq_length = check_int(seq_length, "seq_length", maximum=MAX_VALUES)
        self.sample_rate = check_int(sample_rate, "sample_rate", maximum=MAX_VALUES)
        self.duration = check_real(duration, "duration", low=0.0, low_open=True)
        self.latent_dim = check_int(latent_dim, "latent_dim", maximum=MAX_VALUES)
        check_audio_length(self.sample_rate, self.duration)
        self.shapes = _own_shapes(self.modalities, shapes)
        for name, shape in self.shapes:
            if math.prod(shape) > MAX_VALUES:
                raise ValueError(
                    f"`{shown('shapes')}[{name!r}]` {shape} has {math.prod(shape):,} values an "
                    f"item; at most {MAX_VALUES:,}"
                )
        if "audio" in self.modalities and self.sample_rate < NYQUIST_RATE:
            raise ValueError(
                f"`{shown('sample_rate')}` must be at least {NYQUIST_RATE} Hz, twice the highest "
                f"tone ({HIGHEST_TONE:g} Hz), or the tones alias; got {self.sample_rate}"
            )

    @property
    def num_audio_samples(self) -> int:
        return num_audio_samples(self.sample_rate, self.duration)

    @property
    def default_towers(self) -> str:
        """The towers a model of this data gets unless told (`nn.default_towers`): the
        guide's `"sets"` for the guide's modalities, `"generic"` with one of yours."""
        return "sets" if set(self.modalities) <= set(GUIDE_MODALITIES) else "generic"

    @property
    def sample_bytes(self) -> int:
        """The bytes of one sample (all its modalities, its latent and its score)."""
        spec = self.spec
        values = sum(math.prod(spec.shape(m)) for m in self.modalities)
        return 4 * (values + self.latent_dim + 1)

    @property
    def spec(self) -> DataSpec:
        """The shapes of one example of each modality (what a model is built for)."""
        has = self.modalities
        return DataSpec(
            modalities=has,
            image_shape=self.image_shape if "image" in has else None,
            vocab_size=self.vocab_size if "text" in has else None,
            seq_length=self.seq_length if "text" in has else None,
            num_audio_samples=self.num_audio_samples if "audio" in has else None,
            sample_rate=self.sample_rate if "audio" in has else None,
            shapes=self.shapes,
        )

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> "SyntheticConfig":
        """A copy with some fields changed (and validated again)."""
        fields = self._fields()
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"SyntheticConfig has no field(s) {sorted(unknown)}")
        if "modalities" in changes and "shapes" not in changes:  # keep those still there
            kept = changes["modalities"]
            kept = [kept] if isinstance(kept, str) else list(kept)
            fields["shapes"] = tuple((m, s) for m, s in self.shapes if m in kept)
        return SyntheticConfig(**{**fields, **changes})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (the alignment must be concrete); the
        arguments of `SyntheticConfig(**config.to_dict())`.

        The alignment is the shortest decimal that reads back as the same float32.
        """
        out = self._fields()
        out["alignment"] = float(str(jnp.float32(self.alignment)))
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        out["shapes"] = {name: list(shape) for name, shape in self.shapes}
        if not out["shapes"]:  # the built-ins' configs read as they always have
            del out["shapes"]
        return out

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> "SyntheticConfig":
        """The config of `to_dict`'s JSON values (lists read as tuples)."""
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()
        }
        return cls(**values)

    # -- the data-config seam (`training.AbstractDataConfig`) ------------------------

    def check(self, config: Any) -> None:
        """Every run of a `TrainConfig` can train on this data: its curriculum
        (`curriculum_start`) moves the alignment of the batches (`batch`)."""

    def batch(
        self, config: Any, step: Int[Array, ""], *, key: PRNGKeyArray, mesh: Mesh
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """Items `0 .. batch_size - 1` of `key` at the step's alignment (the run's
        curriculum, if any), each device rendering its own rows; reports the alignment."""
        from ._sharded import sharded_synthetic_batch  # it renders with this config

        alignment = training_alignment(config, step)
        data = eqx.tree_at(lambda c: c.alignment, self, alignment)
        batch = sharded_synthetic_batch(0, config.batch_size, key=key, config=data, mesh=mesh)
        return batch, {"alignment": alignment}

    def gallery(self, size: int, *, key: PRNGKeyArray) -> dict[str, np.ndarray]:
        """Items `0 .. size - 1` of `key`, at the config's alignment."""
        from ._synthetic_dataset import SyntheticDataset  # it is made of this config

        dataset = SyntheticDataset(self, size, key=key).materialise(CHUNK)
        return {k: np.asarray(v) for k, v in dataset[:].items()}

    def evaluation_record(self) -> dict[str, Any]:
        return {"alignment": float(self.alignment)}


def training_alignment(config: Any, step: Int[Array, ""]) -> Array:
    """The alignment of the synthetic training data at `step` of a run of `config` (a
    `TrainConfig`): its data's, or the curriculum's (`curriculum_start`, moving to the
    data's over the first `curriculum_fraction` of the steps)."""
    target = jnp.asarray(config.alignment, jnp.float32)
    if config.curriculum_start is None:
        return target
    span = max(1.0, config.curriculum_fraction * config.steps)
    progress = jnp.minimum(step.astype(jnp.float32) / span, 1.0)
    start = jnp.asarray(config.curriculum_start, jnp.float32)
    return start + (target - start) * progress


register_data_config(SyntheticConfig, default=True)


def renderable_modalities() -> tuple[str, ...]:
    """The registered modalities the synthetic data can render (the guide's three, and
    those registered with a `render` function), in the order of registration."""
    return tuple(m for m in registered_modalities() if _renderable(m))


def _renderable(name: str) -> bool:
    """Whether the guide's formulas render `name`, or its registration has a `render`."""
    return name in GUIDE_MODALITIES or get_modality(name).render is not None


def _check_renderable(modalities: Any) -> None:
    """A registered modality without a `render` function: said so, with the remedy (an
    unknown name is `check_modalities`' to refuse)."""
    if isinstance(modalities, str) or not isinstance(modalities, Sequence):
        return
    for name in modalities:
        if isinstance(name, str) and name in registered_modalities():
            if not _renderable(name):
                raise ValueError(
                    f"`{shown('modalities')}`: modality {name!r} cannot be rendered from the "
                    "synthetic latent; register it with Modality(..., render=...)"
                )


def _own_shapes(
    modalities: tuple[str, ...], shapes: Any
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The item shape of each of `modalities` that has no field of its own (not the
    built-ins), from `shapes` or its registered shape; checked by `DataSpec`."""
    if not isinstance(shapes, Mapping | tuple | list):
        raise TypeError(f"`{shown('shapes')}` must be a dict of item shapes, got {shapes!r:.60}")
    try:
        given = dict(shapes)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{shown('shapes')}` must be a dict of item shapes, got {shapes!r:.60}"
        ) from None
    unknown = sorted(set(given) - set(modalities))
    if unknown:
        raise ValueError(
            f"`{shown('shapes')}` names {unknown}, which are not among the modalities "
            f"{list(modalities)}"
        )
    out = {}
    for name in modalities:
        if spec_fields(name) is not None:  # the modalities with arguments of their own
            if name in given:
                raise ValueError(
                    f"`{shown('shapes')}` sets {name!r}, whose shape has its own arguments"
                )
            continue
        shape = given.get(name, get_modality(name).shape)
        if isinstance(shape, tuple | list) and any(size is None for size in shape):
            raise ValueError(
                f"`{shown('shapes')}` needs the item shape of modality {name!r} (registered as "
                f"{tuple(shape)}), e.g. shapes={{{name!r}: (...)}}"
            )
        out[name] = shape
    checked = DataSpec(tuple(out), shapes=out) if out else None
    return checked.shapes if checked is not None else ()


def _check_alignment(alignment: Any) -> Float[Array, ""]:
    if is_traced(alignment):
        return eqx.error_if(
            jnp.asarray(alignment, dtype=jnp.float32),
            ~((alignment >= 0) & (alignment <= 1)),
            f"`{shown('alignment')}` must be in [0, 1]",
        )
    value = check_real(alignment, "alignment", low=0.0, high=1.0)
    return jnp.asarray(value, dtype=jnp.float32)


def check_audio_length(sample_rate: int, duration: float) -> int:
    """The number of audio samples, which must be at least one."""
    n = num_audio_samples(sample_rate, duration)
    if n > MAX_VALUES:
        raise ValueError(
            f"`{shown('sample_rate')}` * `{shown('duration')}` must give at most {MAX_VALUES:,} "
            f"audio samples, got {n:,}"
        )
    if n < 1:
        raise ValueError(
            f"`{shown('sample_rate')}` * `{shown('duration')}` must give at least one audio "
            f"sample, got {sample_rate} * {duration:g} = {sample_rate * duration:g}"
        )
    return n

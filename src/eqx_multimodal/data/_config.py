import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._types import MODALITIES, ScalarLike
from .._validation import (
    check_int,
    check_modalities,
    check_real,
    check_shape,
    is_traced,
)


def num_audio_samples(sample_rate: int, duration: float | int) -> int:
    """`int(sample_rate * duration)` as the guide writes it, without float artefacts.

    `int(8000 * 0.29)` is 2319 because the product is 2319.9999999999995; a tolerance
    far below one sample absorbs that.
    """
    return math.floor(sample_rate * duration + 1e-6)


class SyntheticConfig(eqx.Module):
    """The validated, frozen configuration of the synthetic aligned data.

    Every static field fixes a shape, so two configurations that differ only in
    `alignment` share compiled code: `alignment` is an array leaf of this pytree (it may
    even be traced or vmapped, e.g. for a curriculum), everything else is static.
    """

    modalities: tuple[str, ...] = eqx.field(static=True)
    alignment: Float[Array, ""]
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    vocab_size: int = eqx.field(static=True)
    seq_length: int = eqx.field(static=True)
    sample_rate: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)
    latent_dim: int = eqx.field(static=True)

    def __init__(
        self,
        modalities: Sequence[str] = MODALITIES,
        alignment: ScalarLike = 0.8,
        image_shape: Sequence[int] = (32, 32, 3),
        vocab_size: int = 1000,
        seq_length: int = 50,
        sample_rate: int = 16000,
        duration: float | int = 1.0,
        latent_dim: int = 32,
    ):
        """**Arguments:**

        - `modalities`: a non-empty, duplicate-free selection of `"image"`, `"text"` and
            `"audio"`. Stored in that canonical order.
        - `alignment`: in [0, 1]. 0 makes every modality independent of the latent, 1
            removes the noise from image and audio.
        - `image_shape`: `(height, width, channels)`.
        - `vocab_size`, `seq_length`: the token vocabulary and the sequence length.
        - `sample_rate` (Hz) and `duration` (s): the waveform has
            `int(sample_rate * duration)` samples, at least one.
        - `latent_dim`: the size of the shared standard-normal latent.
        """
        values = _validate(
            dict(
                modalities=modalities,
                alignment=alignment,
                image_shape=image_shape,
                vocab_size=vocab_size,
                seq_length=seq_length,
                sample_rate=sample_rate,
                duration=duration,
                latent_dim=latent_dim,
            ),
            names={},
        )
        for field_name, value in values.items():
            setattr(self, field_name, value)

    @classmethod
    def _from_aliases(cls, names: Mapping[str, str], **values: Any) -> "SyntheticConfig":
        """Build a configuration whose errors name arguments as `names` spells them."""
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        values = {**defaults, **values}
        _validate(values, names=names)
        return cls(**values)

    @property
    def num_audio_samples(self) -> int:
        return num_audio_samples(self.sample_rate, self.duration)

    def replace(self, **changes: Any) -> "SyntheticConfig":
        """A copy with some fields changed (and validated again)."""
        fields: dict[str, Any] = dict(
            modalities=self.modalities,
            alignment=self.alignment,
            image_shape=self.image_shape,
            vocab_size=self.vocab_size,
            seq_length=self.seq_length,
            sample_rate=self.sample_rate,
            duration=self.duration,
            latent_dim=self.latent_dim,
        )
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"SyntheticConfig has no field(s) {sorted(unknown)}")
        fields.update(changes)
        return SyntheticConfig(**fields)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (the alignment must be concrete)."""
        return dict(
            modalities=list(self.modalities),
            alignment=float(self.alignment),
            image_shape=list(self.image_shape),
            vocab_size=self.vocab_size,
            seq_length=self.seq_length,
            sample_rate=self.sample_rate,
            duration=self.duration,
            latent_dim=self.latent_dim,
        )


def _validate(values: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    def name(field: str) -> str:
        return names.get(field, field)

    out = dict(values)
    out["modalities"] = check_modalities(values["modalities"], name("modalities"), MODALITIES)
    alignment = values["alignment"]
    if is_traced(alignment):
        alignment = eqx.error_if(
            jnp.asarray(alignment, dtype=jnp.float32),
            ~((alignment >= 0) & (alignment <= 1)),
            f"`{name('alignment')}` must be in [0, 1]",
        )
    else:
        alignment = jnp.asarray(
            check_real(alignment, name("alignment"), low=0.0, high=1.0), dtype=jnp.float32
        )
    out["alignment"] = alignment
    out["image_shape"] = check_shape(values["image_shape"], name("image_shape"), length=3)
    out["vocab_size"] = check_int(values["vocab_size"], name("vocab_size"))
    out["seq_length"] = check_int(values["seq_length"], name("seq_length"))
    out["sample_rate"] = check_int(values["sample_rate"], name("sample_rate"))
    out["duration"] = check_real(values["duration"], name("duration"), low=0.0, low_open=True)
    out["latent_dim"] = check_int(values["latent_dim"], name("latent_dim"))
    check_audio_length(out["sample_rate"], out["duration"], name("sample_rate"), name("duration"))
    return out


def check_audio_length(
    sample_rate: int, duration: float, rate_name: str, duration_name: str
) -> int:
    """The number of audio samples, which must be at least one."""
    n = num_audio_samples(sample_rate, duration)
    if n < 1:
        raise ValueError(
            f"`{rate_name}` * `{duration_name}` must give at least one audio sample, got "
            f"{sample_rate} * {duration:g} = {sample_rate * duration:g}"
        )
    return n

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from .._validation import check_int, check_modalities, check_shape
from ..modalities import get_modality, registered_modalities, SpecFields


def spec_fields(name: str) -> SpecFields | None:
    """The fields of its own that `DataSpec` keeps modality `name`'s facts in (its
    registered `Modality.spec_fields`; the built-ins'), or None: `shapes`."""
    return get_modality(name).spec_fields


def has_vocabulary(name: str) -> bool:
    """Whether modality `name`'s items are ids below `DataSpec.vocab_size` (its spec
    fields require it: the built-in text)."""
    own = spec_fields(name)
    return own is not None and "vocab_size" in own.required


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about the data it reads: which modalities, and the
    shape of one example of each.

    The synthetic data has one (`SyntheticConfig.spec`), and so has a paired dataset of
    your own (`PairedDataset.spec`); models are built from it, so the same code builds
    a model for either.

    **Fields:**

    - `modalities`: some registered modalities (`"image"`, `"text"`, `"audio"`, and
        any of yours, `register_modality`), in the order they were registered.
    - `image_shape`: `(height, width, channels)` of an image.
    - `vocab_size`, `seq_length`: token ids are in `[0, vocab_size)`; a text has
        `seq_length` of them.
    - `pad_id`: the id that pads a text to `seq_length`, or `None` when texts are not
        padded (the synthetic tokens).
    - `num_audio_samples`, `sample_rate`: the length of a waveform and its rate in Hz.
    - `shapes`: the shape of one item of each other modality (one you registered),
        `{"depth": (64, 64, 1)}`; stored as sorted `(name, shape)` pairs.

    The fields of a modality that is not in `modalities` are `None` (or absent from
    `shapes`); `shape(modality)` is the shape of one item of any of them. Which fields
    are a modality's own is its registration's say (`Modality.spec_fields`).

    ```python
    >>> spec = DataSpec(["image", "text"], image_shape=(8, 8, 1), vocab_size=259,
    ...                 seq_length=16, pad_id=0)
    >>> spec.modalities, spec.num_audio_samples
    (('image', 'text'), None)

    ```
    """

    modalities: Sequence[str]
    image_shape: Sequence[int] | None = None
    vocab_size: int | None = None
    seq_length: int | None = None
    pad_id: int | None = None
    num_audio_samples: int | None = None
    sample_rate: int | None = None
    shapes: Any = ()

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if isinstance(self.modalities, Sequence) and not isinstance(self.modalities, str):
            for name in self.modalities:  # an unregistered name: said so, with the remedy
                if isinstance(name, str) and name not in registered_modalities():
                    get_modality(name)
        modalities = check_modalities(self.modalities, "modalities", registered_modalities())
        set_("modalities", modalities)
        set_("shapes", self._check_shapes(modalities))
        for modality in registered_modalities():
            fields = spec_fields(modality)
            if fields is None:
                continue
            for name in fields.names:
                if modality not in modalities:
                    if name in _NAMED:  # the fields of an absent modality hold None
                        set_(name, None)
                elif name not in _NAMED:
                    raise ValueError(
                        f"modality {modality!r}: its `spec_fields` name {name!r}, which is no "
                        f"field of DataSpec ({sorted(_NAMED)})"
                    )
                elif getattr(self, name) is None and name not in fields.optional:
                    raise ValueError(f"`{name}` is required for {modality}, got None")
        if self.image_shape is not None:
            set_("image_shape", check_shape(self.image_shape, "image_shape", length=3))
        for name in ("vocab_size", "seq_length", "num_audio_samples", "sample_rate"):
            if getattr(self, name) is not None:
                set_(name, check_int(getattr(self, name), name))
        if self.pad_id is not None and self.vocab_size is not None:  # ids of a modality
            set_("pad_id", check_int(self.pad_id, "pad_id", minimum=0))
            if self.pad_id >= self.vocab_size:
                raise ValueError(
                    f"`pad_id` must be below `vocab_size` {self.vocab_size}, got {self.pad_id}"
                )

    def _check_shapes(self, modalities: tuple[str, ...]) -> tuple[tuple[str, tuple[int, ...]], ...]:
        if not isinstance(self.shapes, Mapping | tuple | list):
            raise TypeError(f"`shapes` must be a dict of item shapes, got {self.shapes!r:.60}")
        given = dict(self.shapes or ())
        out = []
        for name in modalities:
            if spec_fields(name) is not None:  # its shape is in fields of its own
                continue
            if name not in given:
                raise ValueError(f"`shapes` needs the item shape of modality {name!r}, got None")
            expected = get_modality(name).shape
            shape = check_shape(given[name], f"shapes[{name!r}]", length=len(expected))
            if len(shape) != len(expected) or any(
                e is not None and e != s for e, s in zip(expected, shape)
            ):
                raise ValueError(
                    f"`shapes[{name!r}]` {shape} does not fit the modality's item shape {expected}"
                )
            out.append((name, shape))
        return tuple(sorted(out))

    def shape(self, modality: str) -> tuple[int, ...]:
        """The shape of one item of `modality` (one of `modalities`)."""
        if modality not in self.modalities:
            raise ValueError(
                f"`modality` {modality!r} is not in the data, which has {list(self.modalities)}"
            )
        fields = spec_fields(modality)
        if fields is not None:
            return fields.item_shape(self)
        return dict(self.shapes)[modality]

    def replace(self, **changes: Any) -> "DataSpec":
        """A copy with some fields changed (and validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (see `from_dict`)."""
        out = dataclasses.asdict(self)
        shapes = out.pop("shapes")
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        if shapes:  # absent for the built-ins, as before there were others
            out["shapes"] = {name: list(shape) for name, shape in shapes}
        return out

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> "DataSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown data spec field(s) {unknown}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()
        }
        return cls(**values)


#: The fields of their own that `Modality.spec_fields` may name.
_NAMED = frozenset(
    f.name for f in dataclasses.fields(DataSpec) if f.name not in ("modalities", "shapes")
)


def as_spec(data: Any) -> DataSpec:
    """A `DataSpec`, or the `spec` of anything that has one (a `SyntheticConfig`, a
    `PairedDataset`)."""
    if isinstance(data, DataSpec):
        return data
    spec = getattr(data, "spec", None)
    if isinstance(spec, DataSpec):
        return spec
    raise TypeError(
        f"expected a DataSpec, SyntheticConfig or PairedDataset (anything with a `spec`), "
        f"got {data!r:.80}"
    )

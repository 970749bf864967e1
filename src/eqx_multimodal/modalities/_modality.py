"""What a modality is, as a value: its name, what one item is, how a folder stores it,
its default towers and how a figure draws it."""

import abc
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


#: The dtypes an item may have once read: real values, or integer ids.
DTYPES = ("float32", "int32")
#: Names a sample of a folder or a batch already uses for something else.
RESERVED = frozenset({"id", "latent", "alignment", "alignment_score", "label", "present", "pairs"})
#: A name of a modality (and of a tower family): lower-case letters, digits and `_`,
#: starting with a letter.
NAME = re.compile(r"[a-z][a-z0-9_]*")

Reader = Callable[[Path, str], np.ndarray]
Writer = Callable[[Path, np.ndarray], None]
#: `(spec, d_model, *, key) -> AbstractEncoder` (`spec` a `DataSpec`).
EncoderFactory = Callable[..., Any]
#: `(spec, d_in, *, key) -> AbstractDecoder`.
DecoderFactory = Callable[..., Any]
#: `(axes, item) -> None`: draw one item on a Matplotlib `Axes`.
Drawer = Callable[[Any, np.ndarray], None]
#: `(item, rng) -> item`: transform one item a folder read (`rng`: the training reader's
#: `np.random.Generator`, or None).
Transform = Callable[[np.ndarray, np.random.Generator | None], np.ndarray]
#: `(latent, alignment, *, key, config) -> item`: render one item from the shared latent
#: of the synthetic data (`config` a `SyntheticConfig`), in JAX.
Renderer = Callable[..., Any]
#: `(output, item) -> scalar`: a decoder's output against the item it should make.
Loss = Callable[[Any, Any], Any]


class AbstractFolderFormat(abc.ABC):
    """How a paired folder stores one modality: a value a `Modality` carries as its
    `storage`, named by the format (PNG images, WAV clips, JSON lines), not by the
    modality, so that any modality may pick it. The final formats are in
    `eqx_multimodal.data` (`PNGImages`, `WavClips`, `JsonLines`, and `ModalityFiles`, the
    one-file-a-sample format of a modality's own `suffix`, `read` and `write`, for a
    modality that names no storage).

    A format is a stateless, hashable and picklable value (a folder travels to grain's
    worker processes by pickle): `index` returns the object that holds one modality of
    one folder (`data.AbstractColumn`: which samples have it, how to read one, its part
    of the folder's spec, options and fingerprint), and `writer` the object that writes
    it (`data.AbstractColumnWriter`).
    """

    @property
    def keywords(self) -> tuple[str, ...]:
        """The arguments of `PairedFolder` this format reads (`("image_shape",
        "resize")`); an argument goes to every format that declares it."""
        return ()

    #: Whether reading applies the modality's `transform` (a format with transforms of
    #: its own, as the folder's arguments, refuses a modality that has one).
    transforms: ClassVar[bool] = False

    def suffix(self, modality: "Modality") -> str | None:
        """The suffix of a sample's file, `NAME/ID.SUFFIX`, or None when the format keeps
        the modality in one file a folder (`folder_file`)."""
        return None

    def folder_file(self, modality: "Modality") -> str | None:
        """The one file a folder keeps every sample of the modality in, or None."""
        return None

    def scan(self, folder: Path, modality: "Modality") -> dict[str, Any] | None:
        """What `folder_file` holds, by sample id (None when the folder has no such
        file); read before the samples are listed, whose ids it adds."""
        return None

    def check_arguments(self, arguments: dict[str, Any]) -> None:
        """Refuse bad `keywords` values, whether or not the folder has the modality."""

    def attributes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The folder's attributes of this format when it lacks the modality."""
        return {}

    def options(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The folder's `options()` of this format when it lacks the modality."""
        return {}

    def from_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """`options` (recorded JSON values) with this format's turned into arguments."""
        return options

    @abc.abstractmethod
    def index(
        self,
        modality: "Modality",
        folder: Path,
        records: list[dict[str, Any]],
        manifest: dict[str, Any],
        arguments: dict[str, Any],
        scanned: dict[str, Any] | None,
    ) -> Any:
        """The modality of the folder's samples (`records`), every file checked: a
        `data.AbstractColumn`. `arguments`: the folder's `keywords`; `scanned`: what
        `scan` read."""

    def check_writer(self, modality: "Modality", arguments: dict[str, Any]) -> dict[str, Any]:
        """Refuse to write the modality with these writer `arguments` (or without what
        the format needs); returns the arguments it normalised."""
        return {}

    @abc.abstractmethod
    def writer(self, modality: "Modality", folder: Path, arguments: dict[str, Any]) -> Any:
        """A `data.AbstractColumnWriter` of the modality into the new `folder`."""

    def absent_manifest(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The manifest's entries of this format when the folder lacks the modality."""
        return {}


@dataclasses.dataclass(frozen=True)
class SpecFields:
    """Where `data.DataSpec` keeps a modality's facts in fields of their own (the
    built-ins': `image_shape`; `seq_length`, `vocab_size`, `pad_id`;
    `num_audio_samples`, `sample_rate`), a `Modality`'s `spec_fields`. A modality
    without it (yours) keeps its item shape in `DataSpec.shapes`.

    - `shape`: the field of the item shape (a tuple), or with `length`, of the length
        of a 1-D item.
    - `length`: the `shape` field holds a length, `(n,)` being the item shape.
    - `required`: more fields a spec with the modality must set (`vocab_size`).
    - `optional`: more fields it may set (`pad_id`); a spec without the modality holds
        None in all of them.
    """

    shape: str
    length: bool = False
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every field it names."""
        return (self.shape, *self.required, *self.optional)

    def item_shape(self, spec: Any) -> tuple[int, ...]:
        """The item shape a `DataSpec` that has the modality says."""
        value = getattr(spec, self.shape)
        return (value,) if self.length else tuple(value)

    def fields_of(self, item_shape: tuple[int, ...]) -> dict[str, Any]:
        """The `shape` field that says `item_shape`."""
        return {self.shape: item_shape[0] if self.length else tuple(item_shape)}


@dataclasses.dataclass(frozen=True)
class Modality:
    """One kind of data a model reads: a value that `register_modality` makes known by
    its `name`, so that folders, datasets, models, evaluation and figures handle it.

    A frozen dataclass rather than an `eqx.Module`: it holds no arrays and is never
    traced or differentiated; it holds functions (how to read a file, how to build a
    tower) and is compared and hashed as a whole, as a static value.

    **Fields:**

    - `name`: lower-case letters, digits and `_`, starting with a letter (`"depth"`).
        It names the modality everywhere: a manifest's `"modalities"`, a folder's
        sub-folder, a batch's key, an encoder's `modality`.
    - `shape`: the shape of one item, with `None` for a size that each folder or
        dataset sets (every item of one folder has one shape): `(None, None, 1)` is a
        one-channel image of any size, `(16,)` sixteen features.
    - `dtype`: what one item holds once read: `"float32"` (finite values) or `"int32"`
        (non-negative ids).
    - `suffix`: how a folder stores it: one file a sample, `NAME/ID.SUFFIX`. `None`
        for a modality a folder keeps otherwise (text, in `text.jsonl`).
    - `read`: `(path, where) -> item` reads one file (`where` names it in errors);
        `write`: `(path, item)` writes one. Both or neither, with `suffix`.
    - `encoder`: the default encoder factory, `(spec, d_model, *, key) ->
        AbstractEncoder`, whose output is `(d_model,)`; `spec.shape(name)` is the shape
        of an item.
    - `decoder`: optional decoder factory, `(spec, d_in, *, key) -> AbstractDecoder`
        (reconstruction); without one a model has no decoder for the modality.
    - `draw`: optional `(axes, item) -> None` for figures; without one a figure draws
        a 1-D item as a curve and a 2-D or 3-D one as an image.
    - `render`: optional `(latent, alignment, *, key, config) -> item`, how the synthetic
        data (`SyntheticConfig(modalities=[..., name])`) renders the modality from its
        shared standard-normal latent `(config.latent_dim,)`: a pure JAX function (it is
        traced, vmapped and jitted), whose item has `config.spec.shape(name)` and the
        modality's dtype, with `alignment` in [0, 1] (possibly traced) weighing the
        latent against the noise drawn from `key`: 0 independent of the latent. Without
        one the modality is for folders and datasets only.
    - `generate`: optional decoder factory, as `decoder`, of the decoder a generator
        makes the modality with (`nn.make_generators`), whatever the towers; default
        the towers' decoder. The built-in audio's is a `SpectrogramDecoder`.
    - `transform`: optional `(item, rng) -> item`, applied to every item a folder reads,
        after its check: an item of the same shape and dtype (checked again). `rng` is
        the training reader's `np.random.Generator`, seeded by the run's seed, the step
        and the row (a resumed run reads what the uninterrupted one read); None when a
        folder is read for evaluation, loaded or read through grain: a transform may
        augment in training and must be deterministic without it. A module-level
        function, as `read` (a folder travels to grain's worker processes by pickle).
        The built-in image, text and audio have the folder's own transforms instead
        (`PairedFolder`'s arguments).
    - `loss`: optional `(output, item) -> scalar`, the reconstruction loss of a
        decoder's output (its `teacher_output`) against the item, in JAX, for one
        example (`losses.reconstruction_loss`). Default: the mean squared error for real
        values, the cross-entropy of logits for ids. The built-ins': pixel MSE, token
        cross-entropy, waveform MSE plus a multi-resolution STFT loss.
    - `storage`: optional `AbstractFolderFormat`, how a folder stores the modality
        (`data.PNGImages()`: one PNG a sample, `depth/ID.png`; `data.JsonLines()`: one
        `NAME.jsonl` a folder). Default: one file a sample of `suffix`, read and written
        by `read` and `write` (`data.ModalityFiles`).
    - `spec_fields`: optional `SpecFields`: the `data.DataSpec` fields of its own that
        hold its facts (the built-ins'). Default: its item shape is in
        `DataSpec.shapes`.

    ```python
    >>> import numpy as np
    >>> features = Modality("features", shape=(4,))
    >>> features.check(np.zeros(4, np.float32), "row 0").shape
    (4,)
    >>> features.check(np.zeros(5, np.float32), "row 1")
    Traceback (most recent call last):
    ValueError: row 1: a 'features' item has shape (4,), got (5,)

    ```
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    suffix: str | None = None
    read: Reader | None = None
    write: Writer | None = None
    encoder: EncoderFactory | None = None
    decoder: DecoderFactory | None = None
    draw: Drawer | None = None
    render: Renderer | None = None
    generate: DecoderFactory | None = None
    transform: Transform | None = None
    loss: Loss | None = None
    storage: AbstractFolderFormat | None = None
    spec_fields: SpecFields | None = None

    def __post_init__(self):
        name = self.name
        if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED:
            raise ValueError(
                f"a modality's `name` is lower-case letters, digits and '_', starting with a "
                f"letter, and none of {sorted(RESERVED)}; got {name!r}"
            )
        where = f"modality {name!r}"
        shape = self.shape
        if isinstance(shape, int | str) or not isinstance(shape, tuple | list):
            raise TypeError(f"{where}: `shape` must be a tuple of sizes (or None), got {shape!r}")
        for size in shape:
            if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
                raise TypeError(f"{where}: `shape` sizes are integers or None, got {shape!r}")
            if size is not None and size < 1:
                raise ValueError(f"{where}: `shape` sizes must be positive, got {shape!r}")
        object.__setattr__(self, "shape", tuple(shape))
        if self.dtype not in DTYPES:
            raise ValueError(f"{where}: `dtype` must be one of {DTYPES}, got {self.dtype!r}")
        if self.suffix is not None and (
            not isinstance(self.suffix, str) or not re.fullmatch(r"\.[A-Za-z0-9]{1,8}", self.suffix)
        ):
            raise ValueError(f"{where}: `suffix` must be like '.npy', got {self.suffix!r}")
        if (self.read is None) != (self.write is None):
            raise ValueError(f"{where}: give both `read` and `write`, or neither")
        if self.read is not None and self.suffix is None:  # a suffix alone: the folder's own
            raise ValueError(f"{where}: `read` and `write` need the files' `suffix`")
        fields = ("read", "write", "encoder", "decoder", "draw", "render", "generate")
        fields += ("transform", "loss")
        for field in fields:
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"{where}: `{field}` must be callable, got {value!r:.60}")
        if self.spec_fields is not None and not isinstance(self.spec_fields, SpecFields):
            raise TypeError(
                f"{where}: `spec_fields` must be a SpecFields, got {self.spec_fields!r:.60}"
            )
        if self.storage is not None and not isinstance(self.storage, AbstractFolderFormat):
            raise TypeError(
                f"{where}: `storage` must be a folder format (AbstractFolderFormat), got "
                f"{self.storage!r:.60}"
            )

    @property
    def holds_ids(self) -> bool:
        """Whether an item is integer ids (as text's tokens, dtype `"int32"`), not real
        values."""
        return self.dtype == "int32"

    @property
    def rank(self) -> int:
        """The number of dimensions of one item."""
        return len(self.shape)

    @property
    def stored_in_files(self) -> bool:
        """Whether a folder keeps one file a sample, `NAME/ID.SUFFIX`."""
        return self.file_suffix is not None

    @property
    def file_suffix(self) -> str | None:
        """The suffix of a sample's file in a folder: its `storage`'s, else `suffix`."""
        return self.suffix if self.storage is None else self.storage.suffix(self)

    def file_name(self, sample_id: str) -> str:
        """Where a folder keeps a sample's file: `NAME/ID.SUFFIX`."""
        suffix = self.file_suffix
        if suffix is None:
            raise ValueError(f"modality {self.name!r} is not stored one file a sample")
        return f"{self.name}/{sample_id}{suffix}"

    def check(self, item: Any, where: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """`item` as this modality's item, or a one-line error that names `where` (a
        file, an argument) and this modality: the wrong dtype, rank or shape, or a
        value that is not finite. `shape`: the full shape it must have (a folder's),
        else `self.shape` (whose `None` sizes match any)."""
        array = item if isinstance(item, np.ndarray) else None
        if array is None:
            raise TypeError(
                f"{where}: a {self.name!r} item must be a NumPy array, got {type(item).__name__}"
            )
        if array.dtype != np.dtype(self.dtype):
            raise TypeError(
                f"{where}: a {self.name!r} item must be {self.dtype}, got {array.dtype}"
            )
        expected = self.shape if shape is None else tuple(shape)
        if array.ndim != len(expected) or any(
            e is not None and e != s for e, s in zip(expected, array.shape)
        ):
            raise ValueError(
                f"{where}: a {self.name!r} item has shape {expected}, got {array.shape}"
            )
        if self.dtype == "float32":
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{where}: a {self.name!r} item holds NaN or infinite values")
        elif array.size and array.min() < 0:
            raise ValueError(f"{where}: a {self.name!r} item holds negative ids")
        return array

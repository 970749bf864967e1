"""How a paired folder stores a modality: the folder formats a `Modality`'s `storage`
names (`modalities.AbstractFolderFormat`), by format, not by modality.

- `PNGImages`: one PNG a sample, `NAME/ID.png`, of one shape a folder (the manifest's,
    else the first image's), resized with Pillow when asked.
- `WavClips`: one 16-bit mono WAV a sample, `NAME/ID.wav`, at one rate a folder,
    resampled when asked, cut or padded to one length.
- `JsonLines`: every sample in one `NAME.jsonl` of `{"id", "tokens"}` lines, or of
    captions (`{"id", NAME}` lines) that a tokenizer turns into ids.
- `ModalityFiles`: one file a sample, `NAME/ID.SUFFIX`, read and written by the
    modality's own `read` and `write` (and transformed by its `transform`): the format
    of a modality that names no storage.

A format's `index` returns an `AbstractColumn`: one modality of one folder, indexed and
checked, that `PairedFolder` asks which samples have it, for one item, and for its part
of the folder's spec, options, attributes and fingerprint. Its `writer` returns an
`AbstractColumnWriter`, that `PairedFolderWriter` asks to write a batch and for its
entries of the manifest.

A format with `spec_fields` keeps its facts under the `PairedFolder` arguments and
attributes and the `DataSpec` fields of its kind (`image_shape`, `resize`; `tokenizer`,
`vocab_size`, ...), as the built-in modality does (one such modality a folder); without,
under the modality's name in the manifest's and the spec's `"shapes"`.
"""

import abc
import copy
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TextIO

import numpy as np

from .._validation import check_int, check_real, check_shape, shown
from ..modalities import AbstractFolderFormat, Modality
from ._codecs import (
    IMAGE_SCALE,
    open_image,
    pillow_image,
    quantise_audio,
    quantise_image,
    read_image,
    read_wave,
    text_line,
    wave_header,
    write_image,
    write_wave,
)
from ._limits import check_pixels, DEFAULT_TEXT_CAP, MAX_AUDIO_SAMPLES
from ._manifest import file_name, MANIFEST
from ._reading import (
    _CHANNEL_MODES,
    _crop,
    _expected,
    _image_header,
    _resample,
    _shape_text,
    read_lines,
)
from ._text import ByteTokenizer, tokenize, Tokenizer, tokenizer_from_dict


#: `audio_length="auto"`: clips of different lengths are cut or padded to this
#: percentile of their lengths, and at most this many seconds.
AUTO_AUDIO_PERCENTILE = 95
AUTO_AUDIO_SECONDS = 30.0


def auto_audio_length(lengths: Sequence[int], rate: int | None) -> tuple[int, str | None]:
    """The clip length for clips of `lengths` samples at `rate` Hz (`audio_length=
    "auto"`), and what was chosen, in words (None when the clips share one length).

    ```python
    >>> auto_audio_length([100] * 39 + [400], 100)
    (100, 'clips of 1 to 4 s: each cut or padded to 1 s, the 95th percentile of their lengths')
    >>> auto_audio_length([50, 50], 100)
    (50, None)

    ```
    """
    if not lengths:
        return 1, None
    values = np.asarray(lengths, np.int64)
    if np.all(values == values[0]):
        return int(values[0]), None
    chosen = int(np.percentile(values, AUTO_AUDIO_PERCENTILE, method="higher"))
    rule = f"the {AUTO_AUDIO_PERCENTILE}th percentile of their lengths"
    cap = int(AUTO_AUDIO_SECONDS * (rate or 1))
    if chosen > cap:
        chosen, rule = cap, f"the cap of {AUTO_AUDIO_SECONDS:g} s"
    seconds = (lambda n: f"{n / rate:.4g}") if rate else str
    text = (
        f"clips of {seconds(int(values.min()))} to {seconds(int(values.max()))} s: each cut or "
        f"padded to {seconds(chosen)} s, {rule}"
    )
    return max(1, chosen), text


def storage_of(modality: Modality) -> AbstractFolderFormat:
    """How a folder stores `modality`: its `storage`, else its own files."""
    return modality.storage if modality.storage is not None else ModalityFiles()


def yours(function: Any, name: str, what: str, *args: Any) -> Any:
    """`function(*args)`, a function of yours (a reader, a transform) at the file `name`:
    its failure a one-line ValueError naming the file and `what` failed (an error of
    yours that already names the file passes as it is)."""
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - your function's failure, with its file
        if isinstance(error, ValueError | TypeError) and str(error).startswith(name):
            raise
        raise ValueError(
            f"{name}: {what} failed: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from None


def _most_common(values: list[int]) -> int:
    """The value most of `values` have (the first of them on a tie)."""
    counts: dict[int, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return max(counts, key=lambda v: counts[v])


def _check_range(name: str, array: np.ndarray, low: float, high: float, offset: int) -> None:
    """Values outside the file format's range would be clipped: refuse them instead."""
    flat = array.reshape(len(array), -1)
    tolerance = 1e-6
    good = np.all((flat >= low - tolerance) & (flat <= high + tolerance), axis=1)
    if not good.all():
        i = int(np.flatnonzero(~good)[0])
        raise ValueError(
            f"`data[{name!r}]` must be in [{low:g}, {high:g}] to be saved, got values in "
            f"[{np.min(flat[i]):g}, {np.max(flat[i]):g}] in sample {offset + i}"
        )


# -- what a folder and a writer ask of a modality -------------------------------------


class AbstractColumn(abc.ABC):
    """One modality of one folder, indexed and checked (what a format's `index`
    returns): `PairedFolder` asks it which samples have the modality, for one item, and
    for its part of the folder's spec, options, attributes, counts and fingerprint. It
    is picklable (a folder travels to grain's worker processes)."""

    @abc.abstractmethod
    def present(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Which of the folder's samples (`records`) have the modality, `(N,)` booleans."""

    @abc.abstractmethod
    def has(self, index: int, record: dict[str, Any]) -> bool:
        """Whether sample `index` (whose manifest entry is `record`) has the modality."""

    @abc.abstractmethod
    def read(
        self, index: int, record: dict[str, Any], rng: np.random.Generator | None
    ) -> np.ndarray:
        """Sample `index`'s item, read, checked and transformed (zeros when it lacks
        it); `rng`: the training reader's generator, or None."""

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """Its `DataSpec` fields (`{"shapes": {NAME: shape}}` for the shape of a modality
        without fields of its own)."""

    def whole(self) -> np.ndarray | None:
        """Every item at once when it holds them in memory (else None: read one by one)."""
        return None

    def subset(self, rows: np.ndarray) -> "AbstractColumn":
        """The column of the samples at `rows` (of a folder's `subset`)."""
        return self

    def options(self) -> dict[str, Any]:
        """Its part of the folder's `options()` (JSON values)."""
        return {}

    def attributes(self) -> dict[str, Any]:
        """The folder attributes it gives (`image_shape`, `tokenizer`, ...)."""
        return {}

    def counts(self) -> dict[str, int]:
        """More counts for the folder's `counts()`."""
        return {}

    def fingerprint(self) -> bytes:
        """What the folder's fingerprint hashes beyond its samples and options."""
        return b""


class AbstractColumnWriter(abc.ABC):
    """Writes one modality of a new folder, a batch at a time (what a format's `writer`
    returns)."""

    @abc.abstractmethod
    def write(
        self, items: np.ndarray, ids: list[str], records: list[dict[str, Any]], offset: int
    ) -> None:
        """Write a batch of `items` (samples `offset`, ... of the folder), naming each
        file in its sample's manifest entry (`records`)."""

    def close(self) -> None:
        """Finish writing (the folder is complete or about to be removed)."""

    @abc.abstractmethod
    def manifest(self, shape: tuple[int, ...]) -> dict[str, Any]:
        """Its entries of the manifest (`{"shapes": {NAME: shape}}` for the item shape of
        a modality without entries of its own); `shape`: the shape of an item written."""


class _SampleFiles(AbstractColumn):
    """A modality kept one file a sample, named in its manifest entry."""

    def __init__(self, kind: Modality, folder: Path):
        self.kind = kind
        self.folder = folder

    def present(self, records: list[dict[str, Any]]) -> np.ndarray:
        return np.asarray([self.kind.name in r for r in records], bool)

    def has(self, index: int, record: dict[str, Any]) -> bool:
        return self.kind.name in record

    def read(
        self, index: int, record: dict[str, Any], rng: np.random.Generator | None
    ) -> np.ndarray:
        if self.kind.name not in record:
            return self.zeros()
        return self.item(os.path.normpath(record[self.kind.name]), rng)

    @abc.abstractmethod
    def zeros(self) -> np.ndarray:
        """The item of a sample that lacks the modality."""

    @abc.abstractmethod
    def item(self, name: str, rng: np.random.Generator | None) -> np.ndarray:
        """The item of the file `name` (relative to the folder)."""


class _FileWriter(AbstractColumnWriter):
    """Writes one file a sample, `NAME/ID.SUFFIX`, into its own sub-folder."""

    def __init__(self, kind: Modality, folder: Path):
        self.kind = kind
        self.folder = folder
        (folder / kind.name).mkdir()

    def write(
        self, items: np.ndarray, ids: list[str], records: list[dict[str, Any]], offset: int
    ) -> None:
        items = self.checked(items, offset)
        for i, (sample_id, record, item) in enumerate(zip(ids, records, items)):
            name = file_name(self.kind.name, sample_id)
            self.save(self.folder / name, item, offset + i)
            record[self.kind.name] = name

    @abc.abstractmethod
    def checked(self, items: np.ndarray, offset: int) -> np.ndarray:
        """The batch, checked and turned into what `save` writes."""

    @abc.abstractmethod
    def save(self, path: Path, item: np.ndarray, index: int) -> None:
        """Write one item (sample `index`) at `path`."""

    def manifest(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"shapes": {self.kind.name: list(shape)}}


def _shapes_part(kind: Modality, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"shapes": {kind.name: tuple(shape)}}


# -- PNG images -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PNGImages(AbstractFolderFormat):
    """Images, one PNG a sample (`NAME/ID.png`; any still image Pillow reads), all of one
    `(height, width, channels)` a folder, 1 to 4 channels, read as float32 in [0, 1]
    (pixels / 255). Another size is an error that names the file, unless resized.

    **Fields:**

    - `spec_fields`: keep the shape as the built-in image does: the folder's argument
        and attribute `image_shape` (and `resize`: Pillow, bilinear, with the channels
        converted), the manifest's `"image_shape"` and `DataSpec.image_shape`. Default:
        the manifest's and the spec's `"shapes"` under the modality's name.
    """

    spec_fields: bool = False

    @property
    def keywords(self) -> tuple[str, ...]:
        return ("image_shape", "resize") if self.spec_fields else ()

    def suffix(self, modality: Modality) -> str | None:
        return ".png"

    def attributes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.options(arguments)

    def options(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if not self.spec_fields:
            return {}
        return {"image_shape": None, "resize": bool(arguments.get("resize", False))}

    def index(
        self,
        modality: Modality,
        folder: Path,
        records: list[dict[str, Any]],
        manifest: dict[str, Any],
        arguments: dict[str, Any],
        scanned: dict[str, Any] | None,
    ) -> AbstractColumn:
        resize = bool(arguments.get("resize", False))
        image_shape = arguments.get("image_shape")
        if image_shape is not None:
            image_shape = check_shape(image_shape, "image_shape", length=3)
        if self.spec_fields:
            expected, source = _expected(image_shape, "image_shape", manifest)
        else:
            expected, source = _expected(None, modality.name, manifest.get("shapes", {}))
            source = source and f"{MANIFEST}: 'shapes'[{modality.name!r}]"
        if expected is not None:
            where = f"`{shown('image_shape')}`" if image_shape is not None else source
            if (
                not isinstance(expected, tuple)
                or len(expected) != 3
                or not all(isinstance(v, int) and v > 0 for v in expected)
            ):
                raise ValueError(f"{where}: the image shape must be (H, W, C), got {expected!r}")
            if expected[2] not in _CHANNEL_MODES:
                raise ValueError(
                    f"{where}: an image has 1 to 4 channels (L, LA, RGB, RGBA), got {expected[2]}"
                )
            check_pixels(expected[1], expected[0], where)
        for record in records:
            if modality.name not in record:
                continue
            name = os.path.normpath(record[modality.name])
            shape = _image_header(folder / name, name)
            if expected is None:
                expected, source = shape, name
            if shape != expected and not resize:
                raise ValueError(
                    f"{name}: {_shape_text(shape)}, expected {_shape_text(expected)} ({source})"
                    " (pass resize=True, or --resize, to resize images)"
                )
        if not self.spec_fields:
            if expected is None:
                raise ValueError(
                    f"{MANIFEST}: no sample has a {modality.name!r} file, and 'shapes' does "
                    "not give its item shape"
                )
            modality.check(np.zeros(expected, np.float32), source)
        return _Images(modality, folder, expected, resize, self.spec_fields)

    def check_writer(self, modality: Modality, arguments: dict[str, Any]) -> dict[str, Any]:
        pillow_image()
        return {}

    def writer(
        self, modality: Modality, folder: Path, arguments: dict[str, Any]
    ) -> AbstractColumnWriter:
        return _ImageWriter(modality, folder, self.spec_fields)


class _Images(_SampleFiles):
    def __init__(
        self,
        kind: Modality,
        folder: Path,
        shape: tuple[int, int, int] | None,
        resize: bool,
        spec_fields: bool,
    ):
        super().__init__(kind, folder)
        self.shape = shape
        self.resize = resize
        self.spec_fields = spec_fields

    def zeros(self) -> np.ndarray:
        assert self.shape is not None
        return np.zeros(self.shape, np.float32)

    def item(self, name: str, rng: np.random.Generator | None) -> np.ndarray:
        assert self.shape is not None
        if not self.resize:
            pixels = read_image(self.folder / name, name)
        else:
            Image = pillow_image()
            height, width, channels = self.shape
            with open_image(self.folder / name, name) as image:
                image = image.convert(_CHANNEL_MODES[channels])
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(image)
            pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        if pixels.shape != self.shape:
            raise ValueError(
                f"{name}: {_shape_text(pixels.shape)}, expected {_shape_text(self.shape)}"
            )
        return pixels.astype(np.float32) / np.float32(IMAGE_SCALE)

    def spec(self) -> dict[str, Any]:
        if not self.spec_fields:
            assert self.shape is not None
            return _shapes_part(self.kind, self.shape)
        return {"image_shape": self.shape}

    def options(self) -> dict[str, Any]:
        if not self.spec_fields:
            return {}
        shape = None if self.shape is None else list(self.shape)
        return {"image_shape": shape, "resize": self.resize}

    def attributes(self) -> dict[str, Any]:
        if not self.spec_fields:
            return {}
        return {"image_shape": self.shape, "resize": self.resize}


class _ImageWriter(_FileWriter):
    def __init__(self, kind: Modality, folder: Path, spec_fields: bool):
        super().__init__(kind, folder)
        self.spec_fields = spec_fields

    def checked(self, items: np.ndarray, offset: int) -> np.ndarray:
        name = self.kind.name
        if items.ndim != 4 or items.shape[-1] not in (1, 2, 3, 4):
            raise ValueError(
                f"`data[{name!r}]` must have shape (N, height, width, channels) with 1 to 4 "
                f"channels to be saved as PNG, got {items.shape}"
            )
        _check_range(name, items, 0.0, 1.0, offset)
        return quantise_image(items)

    def save(self, path: Path, item: np.ndarray, index: int) -> None:
        write_image(path, item)

    def manifest(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"image_shape": list(shape)} if self.spec_fields else super().manifest(shape)


# -- WAV clips ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WavClips(AbstractFolderFormat):
    """Clips, one mono PCM WAV a sample (`NAME/ID.wav`; written with 16 bits), read as
    float32 in [-1, 1], all at one rate a folder (the folder's `sample_rate`: the
    argument's, the manifest's, else the one most files have; another rate is an error
    naming the file, unless `resample`), cut or padded to one length (`audio_length`,
    `audio_seconds`, `"auto"`). Its facts go by the built-in audio's names (the folder's
    `sample_rate`, `audio_length`, ...; `DataSpec.num_audio_samples` and `sample_rate`):
    one modality a folder keeps in this format."""

    @property
    def keywords(self) -> tuple[str, ...]:
        return ("sample_rate", "resample", "audio_length", "audio_seconds")

    def suffix(self, modality: Modality) -> str | None:
        return ".wav"

    def check_arguments(self, arguments: dict[str, Any]) -> None:
        length, seconds = arguments.get("audio_length"), arguments.get("audio_seconds")
        if length is not None and seconds is not None:
            raise ValueError("pass `audio_length` or `audio_seconds`, not both")
        if seconds is not None:
            check_real(seconds, "audio_seconds", low=0.0, low_open=True)

    def attributes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "sample_rate": None,
            "resample": bool(arguments.get("resample", False)),
            "audio_length": None,
            "audio_rule": None,
            "frames": None,
        }

    def options(self, arguments: dict[str, Any]) -> dict[str, Any]:
        resample = bool(arguments.get("resample", False))
        return {"sample_rate": None, "resample": resample, "audio_length": None}

    def index(
        self,
        modality: Modality,
        folder: Path,
        records: list[dict[str, Any]],
        manifest: dict[str, Any],
        arguments: dict[str, Any],
        scanned: dict[str, Any] | None,
    ) -> AbstractColumn:
        sample_rate = arguments.get("sample_rate")
        resample = bool(arguments.get("resample", False))
        audio_length = arguments.get("audio_length")
        audio_seconds = arguments.get("audio_seconds")
        if sample_rate is not None:
            sample_rate = check_int(sample_rate, "sample_rate")
        rate, source = _expected(sample_rate, "sample_rate", manifest)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate < 1):
            raise ValueError(f"{source}: 'sample_rate' must be a positive integer, got {rate!r}")
        headers = {}
        for record in records:
            if modality.name in record:
                name = os.path.normpath(record[modality.name])
                headers[name] = wave_header(folder / name, name)
        # The expected rate and length are the ones most files have (not the first
        # file's): an odd file is named as the odd one, against a file that has them.
        if rate is None and headers:
            rate = _most_common([r for _, r, _ in headers.values()])
            source = next(n for n, (_, r, _) in headers.items() if r == rate)
        frames = {}
        for name, (channels, this_rate, count) in headers.items():
            if channels != 1:
                raise ValueError(f"{name}: {channels} channels; every audio file must be mono")
            # The rate is checked first: a clip of another rate has another length too.
            if this_rate != rate and not resample:
                raise ValueError(
                    f"{name}: sample rate {this_rate} Hz, expected {rate} Hz ({source}) "
                    "(pass resample=True, or --resample, to resample audio)"
                )
            if this_rate != rate:
                count = int(np.ceil(count * rate / this_rate))
            frames[name] = count
        fixed = audio_length is not None or audio_seconds is not None
        if not fixed and frames:
            usual = _most_common(list(frames.values()))
            odd = next((n for n, c in frames.items() if c != usual), None)
            if odd is not None:
                reference = next(n for n, c in frames.items() if c == usual)
                raise ValueError(
                    f"{odd}: {frames[odd]} samples, expected {usual} ({reference}) (pass "
                    "audio_length=..., or --audio-seconds, to crop or pad clips to one length)"
                )
        rule = None
        if audio_length == "auto":
            length, rule = auto_audio_length(list(frames.values()), rate)
        elif audio_length is not None:
            length = check_int(audio_length, "audio_length", maximum=MAX_AUDIO_SAMPLES)
        elif audio_seconds is not None:
            length = max(1, round(audio_seconds * (rate or 1)))
            if length > MAX_AUDIO_SAMPLES:
                raise ValueError(
                    f"`{shown('audio_seconds')}` {audio_seconds:g} s is {length:,} "
                    f"samples at {rate} Hz, more than the {MAX_AUDIO_SAMPLES:,} a clip may have"
                )
        else:
            length = next(iter(frames.values()), 1)
            if length > MAX_AUDIO_SAMPLES:
                raise ValueError(
                    f"{next(iter(frames))}: {length:,} samples, more than the "
                    f"{MAX_AUDIO_SAMPLES:,} a clip may have (pass --audio-seconds to cut them)"
                )
        return _Clips(modality, folder, rate, resample, length, rule, frames)

    def check_writer(self, modality: Modality, arguments: dict[str, Any]) -> dict[str, Any]:
        sample_rate = arguments.get("sample_rate")
        if sample_rate is None:
            raise ValueError(f"`sample_rate` is required to write {modality.name}, got None")
        return {"sample_rate": check_int(sample_rate, "sample_rate")}

    def writer(
        self, modality: Modality, folder: Path, arguments: dict[str, Any]
    ) -> AbstractColumnWriter:
        return _ClipWriter(modality, folder, arguments["sample_rate"])

    def absent_manifest(self, arguments: dict[str, Any]) -> dict[str, Any]:
        rate = arguments.get("sample_rate")
        return {} if rate is None else {"sample_rate": rate}


class _Clips(_SampleFiles):
    def __init__(
        self,
        kind: Modality,
        folder: Path,
        rate: int | None,
        resample: bool,
        length: int,
        rule: str | None,
        frames: dict[str, int],
    ):
        super().__init__(kind, folder)
        self.rate = rate
        self.resample = resample
        self.length = length
        self.rule = rule
        self.frames = frames

    def zeros(self) -> np.ndarray:
        return np.zeros(self.length, np.float32)

    def item(self, name: str, rng: np.random.Generator | None) -> np.ndarray:
        assert self.rate is not None
        values, rate = read_wave(self.folder / name, name)
        if rate != self.rate:
            if not self.resample:
                raise ValueError(f"{name}: sample rate {rate} Hz, expected {self.rate} Hz")
            values = _resample(values, rate, self.rate, name)
        return _crop(values, self.length, rng).astype(np.float32)

    def spec(self) -> dict[str, Any]:
        return {"num_audio_samples": self.length, "sample_rate": self.rate}

    def options(self) -> dict[str, Any]:
        return {"sample_rate": self.rate, "resample": self.resample, "audio_length": self.length}

    def attributes(self) -> dict[str, Any]:
        return {
            "sample_rate": self.rate,
            "resample": self.resample,
            "audio_length": self.length,
            "audio_rule": self.rule,
            "frames": self.frames,
        }


class _ClipWriter(_FileWriter):
    def __init__(self, kind: Modality, folder: Path, rate: int):
        super().__init__(kind, folder)
        self.rate = rate

    def checked(self, items: np.ndarray, offset: int) -> np.ndarray:
        name = self.kind.name
        if items.ndim != 2:
            raise ValueError(f"`data[{name!r}]` must have shape (N, samples), got {items.shape}")
        _check_range(name, items, -1.0, 1.0, offset)
        return quantise_audio(items)

    def save(self, path: Path, item: np.ndarray, index: int) -> None:
        write_wave(path, item, self.rate)

    def manifest(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"sample_rate": self.rate}


# -- JSON lines -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class JsonLines(AbstractFolderFormat):
    """Token ids, every sample in one JSON-lines file a folder (`NAME.jsonl`): one line
    a sample, `{"id": ..., "tokens": [...]}` (every line of one length), or a caption,
    `{"id": ..., NAME: "..."}`, that a tokenizer turns into ids (default a
    `ByteTokenizer` long enough for the longest caption, up to 512 ids; longer captions
    are cut and counted). A sample is present when it has a line.

    **Fields:**

    - `file_name`: the file (default `NAME.jsonl`).
    - `spec_fields`: keep the facts as the built-in text does: the folder's argument
        `tokenizer`, its attributes `tokenizer`, `tokens` and `truncated`, and
        `DataSpec.vocab_size`, `seq_length` and `pad_id`. Default: the spec's `"shapes"`
        under the modality's name (captions through the default tokenizer).
    """

    file_name: str | None = None
    spec_fields: bool = False

    @property
    def keywords(self) -> tuple[str, ...]:
        return ("tokenizer",) if self.spec_fields else ()

    def folder_file(self, modality: Modality) -> str | None:
        return self.file_name or f"{modality.name}.jsonl"

    def scan(self, folder: Path, modality: Modality) -> dict[str, Any] | None:
        file = self.folder_file(modality)
        assert file is not None
        return read_lines(folder, file, modality.name)

    def attributes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if not self.spec_fields:
            return {}
        return {"tokenizer": None, "tokens": None, "truncated": 0}

    def options(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"tokenizer": None} if self.spec_fields else {}

    def from_options(self, options: dict[str, Any]) -> dict[str, Any]:
        recorded = options.get("tokenizer")
        if not self.spec_fields or recorded is None:
            return options
        return {**options, "tokenizer": tokenizer_from_dict(recorded)}

    def index(
        self,
        modality: Modality,
        folder: Path,
        records: list[dict[str, Any]],
        manifest: dict[str, Any],
        arguments: dict[str, Any],
        scanned: dict[str, Any] | None,
    ) -> AbstractColumn:
        assert scanned is not None  # the records' check: a folder of it has its file
        tokenizer: Tokenizer | None = arguments.get("tokenizer")
        first = next(iter(scanned.values()), None)
        present = np.asarray([r["id"] in scanned for r in records], bool)
        truncated = 0
        if isinstance(first, str):
            texts = [scanned.get(r["id"], "") for r in records]
            if tokenizer is None:
                # Every caption whole (its bytes and the two marks), up to a cap: longer
                # ones are cut and counted (`counts()`), as `--max-text-length` does.
                longest = max(len(t.encode("utf-8")) for t in texts)
                tokenizer = ByteTokenizer(max_length=max(3, min(longest + 2, DEFAULT_TEXT_CAP)))
            tokens, truncated = tokenize(texts, tokenizer)
        else:
            tokenizer = None
            length = len(first) if first is not None else 1
            rows = [scanned.get(r["id"], [0] * length) for r in records]
            tokens = np.asarray(rows, dtype=np.int32)
        return _Lines(modality, tokens, present, tokenizer, truncated, self.spec_fields)

    def writer(
        self, modality: Modality, folder: Path, arguments: dict[str, Any]
    ) -> AbstractColumnWriter:
        file = self.folder_file(modality)
        assert file is not None
        return _LineWriter(modality, open(folder / file, "w", encoding="utf-8"))


class _Lines(AbstractColumn):
    def __init__(
        self,
        kind: Modality,
        tokens: np.ndarray,
        present: np.ndarray,
        tokenizer: Tokenizer | None,
        truncated: int,
        spec_fields: bool,
    ):
        self.kind = kind
        self.tokens = tokens
        self.is_present = present
        self.tokenizer = tokenizer
        self.truncated = truncated
        self.spec_fields = spec_fields

    def present(self, records: list[dict[str, Any]]) -> np.ndarray:
        return self.is_present

    def has(self, index: int, record: dict[str, Any]) -> bool:
        return bool(self.is_present[index])

    def read(
        self, index: int, record: dict[str, Any], rng: np.random.Generator | None
    ) -> np.ndarray:
        return self.tokens[index]

    def whole(self) -> np.ndarray | None:
        return self.tokens

    def subset(self, rows: np.ndarray) -> AbstractColumn:
        view = copy.copy(self)
        view.tokens = self.tokens[rows]
        view.is_present = self.is_present[rows]
        return view

    def spec(self) -> dict[str, Any]:
        if not self.spec_fields:
            return _shapes_part(self.kind, self.tokens.shape[1:])
        tokenizer, tokens = self.tokenizer, self.tokens
        return {
            "vocab_size": tokenizer.vocab_size if tokenizer else int(tokens.max()) + 1,
            "seq_length": tokens.shape[1],
            "pad_id": tokenizer.pad_id if tokenizer else None,
        }

    def options(self) -> dict[str, Any]:
        if not self.spec_fields:
            return {}
        return {"tokenizer": None if self.tokenizer is None else self.tokenizer.to_dict()}

    def attributes(self) -> dict[str, Any]:
        if not self.spec_fields:
            return {}
        return {"tokenizer": self.tokenizer, "tokens": self.tokens, "truncated": self.truncated}

    def counts(self) -> dict[str, int]:
        if self.tokenizer is None:
            return {}
        return {
            "truncated captions" if self.spec_fields else f"truncated {self.kind.name}": (
                self.truncated
            )
        }

    def fingerprint(self) -> bytes:
        return self.tokens.tobytes()


class _LineWriter(AbstractColumnWriter):
    def __init__(self, kind: Modality, file: TextIO):
        self.kind = kind
        self.file = file

    def write(
        self, items: np.ndarray, ids: list[str], records: list[dict[str, Any]], offset: int
    ) -> None:
        name = self.kind.name
        if items.dtype.kind == "U" and items.ndim == 1:  # captions
            for sample_id, caption in zip(ids, items.tolist()):
                self.file.write(json.dumps({"id": sample_id, name: caption}) + "\n")
            return
        if items.ndim != 2 or not np.issubdtype(items.dtype, np.integer):
            raise ValueError(
                f"`data[{name!r}]` must be integer tokens of shape (N, length) or N captions "
                f"(strings), got {items.dtype} {items.shape}"
            )
        bad = (items < 0) | (items >= 2**31)
        if np.any(bad):
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ValueError(
                f"`data[{name!r}]` tokens must be in [0, 2**31), got {items[i][bad[i]][0]} in "
                f"sample {offset + i}"
            )
        for sample_id, row in zip(ids, items.tolist()):
            self.file.write(text_line(sample_id, row))

    def close(self) -> None:
        self.file.close()

    def manifest(self, shape: tuple[int, ...]) -> dict[str, Any]:
        return {}


# -- a modality's own files -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModalityFiles(AbstractFolderFormat):
    """One file a sample, `NAME/ID.SUFFIX`, of the modality's own `suffix`, read by its
    `read` and written by its `write`, every item checked (the modality's dtype and item
    shape, and the folder's shape: the manifest's `"shapes"`, else the first file's)
    and transformed by its `transform`: the storage of a modality that names none."""

    transforms: ClassVar[bool] = True

    def suffix(self, modality: Modality) -> str | None:
        return modality.suffix

    def index(
        self,
        modality: Modality,
        folder: Path,
        records: list[dict[str, Any]],
        manifest: dict[str, Any],
        arguments: dict[str, Any],
        scanned: dict[str, Any] | None,
    ) -> AbstractColumn:
        declared = manifest.get("shapes", {})
        if not isinstance(declared, dict):
            raise ValueError(f"{MANIFEST}: 'shapes' must map modalities to item shapes")
        name = modality.name
        if modality.read is None:
            raise ValueError(
                f"{MANIFEST}: modality {name!r} has no files to read (its Modality has no "
                "`suffix` and `read`), so a folder cannot hold it"
            )
        column = _Files(modality, folder, None)
        if name in declared:
            where = f"{MANIFEST}: 'shapes'[{name!r}]"
            shape = check_shape(declared[name], where, length=modality.rank)
            modality.check(np.zeros(shape, modality.dtype), where)
        else:
            first = next((r for r in records if name in r), None)
            if first is None:
                raise ValueError(
                    f"{MANIFEST}: no sample has a {name!r} file, and 'shapes' does not "
                    f"give its item shape"
                )
            shape = column.raw(os.path.normpath(first[name])).shape
        column.shape = tuple(shape)
        return column

    def check_writer(self, modality: Modality, arguments: dict[str, Any]) -> dict[str, Any]:
        if modality.write is None:
            raise ValueError(
                f"`modalities`: modality {modality.name!r} has no `write` (no files), so a "
                "folder cannot hold it"
            )
        return {}

    def writer(
        self, modality: Modality, folder: Path, arguments: dict[str, Any]
    ) -> AbstractColumnWriter:
        return _ModalityWriter(modality, folder)


class _Files(_SampleFiles):
    def __init__(self, kind: Modality, folder: Path, shape: tuple[int, ...] | None):
        super().__init__(kind, folder)
        self.shape = shape

    def raw(self, name: str) -> np.ndarray:
        """The item of the file `name`, checked (the modality's dtype and item shape,
        and the folder's shape once known)."""
        kind = self.kind
        assert kind.read is not None
        item = yours(kind.read, name, f"the {kind.name!r} reader", self.folder / name, name)
        return kind.check(item, name, shape=self.shape)

    def zeros(self) -> np.ndarray:
        assert self.shape is not None
        return np.zeros(self.shape, self.kind.dtype)

    def item(self, name: str, rng: np.random.Generator | None) -> np.ndarray:
        kind = self.kind
        item = self.raw(name)
        if kind.transform is None:
            return item
        made = yours(kind.transform, name, f"the {kind.name!r} transform", item, rng)
        return kind.check(made, f"{name} (after the {kind.name!r} transform)", shape=self.shape)

    def spec(self) -> dict[str, Any]:
        assert self.shape is not None
        return _shapes_part(self.kind, self.shape)


class _ModalityWriter(_FileWriter):
    def checked(self, items: np.ndarray, offset: int) -> np.ndarray:
        kind = self.kind
        kinds = "f" if kind.dtype == "float32" else "iu"
        if items.dtype.kind not in kinds:
            raise TypeError(
                f"`data[{kind.name!r}]` must hold {kind.dtype} values (modality "
                f"{kind.name!r}), got {items.dtype}"
            )
        return items.astype(kind.dtype)

    def save(self, path: Path, item: np.ndarray, index: int) -> None:
        kind = self.kind
        kind.check(item, f"`data[{kind.name!r}]` sample {index}")
        assert kind.write is not None
        kind.write(path, item)

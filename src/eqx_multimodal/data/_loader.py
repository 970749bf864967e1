"""Reading a paired folder: `PairedFolder` indexes and checks it, and reads a sample's
files on demand (so a folder larger than memory can stream); `load_paired_folder` reads
all of it into a `PairedDataset`.

Every file is checked and named when something is wrong; nothing is skipped or
silently converted. Transforms are explicit arguments, and `PairedFolder.options()`
records them: images resized with Pillow, audio resampled (`scipy.signal.resample_poly`,
when asked), and cropped or padded to a fixed length (the centre, or a random window
when a generator is passed, as training does).
"""

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_indices, check_int, check_real, check_shape, shown
from ..modalities import get_modality, Modality
from ._codecs import IMAGE_SCALE, open_image, pillow_image, read_image, read_wave, wave_header
from ._limits import check_pixels, DEFAULT_TEXT_CAP, MAX_AUDIO_SAMPLES
from ._manifest import (
    MANIFEST,
    natural,
    read_manifest,
    records_from_manifest,
    records_from_scan,
)
from ._paired import PairedDataset
from ._reading import (
    _CHANNEL_MODES,
    _crop,
    _expected,
    _image_header,
    _read_text,
    _resample,
    _shape_text,
)
from ._spec import DataSpec
from ._text import ByteTokenizer, tokenize, Tokenizer, tokenizer_from_dict


#: The modalities a folder keeps in its own formats, with their own transforms; every
#: other registered modality is read by its `Modality.read`.
OWN_FORMATS = ("image", "text", "audio")

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


class PairedFolder:
    """A paired folder, indexed and checked, whose files are read when a sample is.

    Opening it reads the manifest, `text.jsonl` and every file's header (image size and
    channels, WAV channels, rate and length), so a bad folder fails at once with the
    file named; the pixels and samples are decoded by `read` (one sample) or `load`
    (all, into a `PairedDataset`). It is picklable (grain worker processes read it).

    ```python
    >>> import tempfile
    >>> import jax.numpy as jnp
    >>> from eqx_multimodal import save_paired_folder
    >>> path = save_paired_folder(Path(tempfile.mkdtemp()) / "f", {"text": jnp.ones((3, 4), int)})
    >>> folder = PairedFolder(path)
    >>> len(folder), folder.modalities, folder.read(2)["text"].tolist()
    (3, ('text',), [1, 1, 1, 1])

    ```
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        image_shape: Sequence[int] | None = None,
        resize: bool = False,
        sample_rate: int | None = None,
        resample: bool = False,
        audio_length: int | str | None = None,
        audio_seconds: float | None = None,
        tokenizer: Tokenizer | None = None,
        allow_missing: bool = False,
    ):
        """**Arguments:**

        - `path`: the folder.
        - `image_shape`: keyword only. The `(height, width, channels)` of every image;
            default the manifest's, else the first image's. An image of another size is
            an error naming it, unless `resize`.
        - `resize`: keyword only. Resize images of another size to `image_shape`
            (Pillow, bilinear) and convert their channels.
        - `sample_rate`: keyword only. The rate in Hz of every WAV file; default the
            manifest's, else the first file's. Another rate is an error naming the file,
            unless `resample`.
        - `resample`: keyword only. Resample audio of another rate to `sample_rate`
            (`scipy.signal.resample_poly`; the `audio` extra).
        - `audio_length`: keyword only. Samples a clip: longer clips are cut (the
            centre; a random window when `read` is given a generator), shorter ones
            padded with silence. Default: every clip must have the same length.
            `"auto"`: the clips' length if they share one, else the
            `AUTO_AUDIO_PERCENTILE`th percentile of their lengths (at most 5% of the
            clips are cut), at most `AUTO_AUDIO_SECONDS` seconds; `audio_rule` then
            says what was chosen.
        - `audio_seconds`: keyword only. The same in seconds (at `sample_rate`).
        - `tokenizer`: keyword only. Turns the captions of a `text.jsonl` of
            `{"id", "text"}` lines into ids; default a `ByteTokenizer` long enough for
            the longest caption, up to 512 ids (longer captions are cut and counted,
            `counts()`). Token lines are used as they are (ids below 2**20, at most
            4096 a line; see `data/_limits.py`).
        - `allow_missing`: keyword only. Let samples lack some modalities (each
            modality's presence is recorded; see `PairedDataset`).
        """
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"`path` {str(self.path)!r} is not a folder")
        self.resize = bool(resize)
        self.resample = bool(resample)
        self.allow_missing = bool(allow_missing)
        manifest = read_manifest(self.path)
        text = _read_text(self.path)
        text_ids = None if text is None else set(text)
        if manifest is None:
            records, modalities = records_from_scan(self.path, text_ids, self.allow_missing)
            manifest = {}
        else:
            records, modalities = records_from_manifest(
                self.path, manifest, text_ids, self.allow_missing
            )
        if not records:
            raise ValueError(f"`path` {str(self.path)!r} holds no samples")
        self.modalities: tuple[str, ...] = modalities
        self.records = records
        self.ids: tuple[str, ...] = tuple(r["id"] for r in records)
        self.pairs = manifest.get("pairs")
        self.truncated = 0
        self.tokenizer: Tokenizer | None = None
        self.tokens: np.ndarray | None = None
        if "text" in modalities:
            assert text is not None
            self._index_text(text, tokenizer)
        self.image_shape: tuple[int, int, int] | None = None
        if "image" in modalities:
            self._index_images(image_shape, manifest)
        self.sample_rate: int | None = None
        self.audio_length: int | None = None
        self.audio_rule: str | None = None
        if audio_length is not None and audio_seconds is not None:
            raise ValueError("pass `audio_length` or `audio_seconds`, not both")
        if audio_seconds is not None:
            check_real(audio_seconds, "audio_seconds", low=0.0, low_open=True)
        if "audio" in modalities:
            self._index_audio(sample_rate, audio_length, audio_seconds, manifest)
        self.shapes: dict[str, tuple[int, ...]] = {}
        # The registered modalities' values travel with the folder (a grain worker
        # process reads with them, whatever its own registry holds).
        self.kinds: dict[str, Modality] = {
            m: get_modality(m) for m in modalities if m not in OWN_FORMATS
        }
        for modality in OWN_FORMATS:
            if modality in modalities and get_modality(modality).transform is not None:
                raise ValueError(
                    f"modality {modality!r} is read by the folder's own format, with its own "
                    "transforms (see PairedFolder's arguments); its `transform` would not apply"
                )
        for modality in modalities:
            if modality not in OWN_FORMATS:
                self._index_registered(modality, manifest)
        self._index_metadata()
        self._label_names = (
            None
            if self.labels is None
            else tuple(sorted({x for x in self.labels if x is not None}, key=natural))
        )
        self._complete = self._all_present()

    # -- indexing -------------------------------------------------------------------

    def _index_text(self, text: dict[str, Any], tokenizer: Tokenizer | None) -> None:
        first = next(iter(text.values()), None)
        present = [r["id"] in text for r in self.records]
        if isinstance(first, str):
            texts = [text.get(r["id"], "") for r in self.records]
            if tokenizer is None:
                # Every caption whole (its bytes and the two marks), up to a cap: longer
                # ones are cut and counted (`counts()`), as `--max-text-length` does.
                longest = max(len(t.encode("utf-8")) for t in texts)
                tokenizer = ByteTokenizer(max_length=max(3, min(longest + 2, DEFAULT_TEXT_CAP)))
            self.tokenizer = tokenizer
            self.tokens, self.truncated = tokenize(texts, self.tokenizer)
        else:
            length = len(first) if first is not None else 1
            rows = [text.get(r["id"], [0] * length) for r in self.records]
            self.tokens = np.asarray(rows, dtype=np.int32)
        self._text_present = np.asarray(present, bool)

    def _index_images(self, image_shape: Sequence[int] | None, manifest: dict) -> None:
        if image_shape is not None:
            image_shape = check_shape(image_shape, "image_shape", length=3)
        expected, source = _expected(image_shape, "image_shape", manifest)
        if expected is not None:
            where = f"`{shown('image_shape')}`" if image_shape is not None else MANIFEST
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
        for record in self.records:
            if "image" not in record:
                continue
            name = os.path.normpath(record["image"])
            shape = _image_header(self.path / name, name)
            if expected is None:
                expected, source = shape, name
            if shape != expected and not self.resize:
                raise ValueError(
                    f"{name}: {_shape_text(shape)}, expected {_shape_text(expected)} ({source})"
                    " (pass resize=True, or --resize, to resize images)"
                )
        self.image_shape = expected  # type: ignore[assignment]

    def _index_audio(
        self,
        sample_rate: int | None,
        audio_length: int | str | None,
        audio_seconds: float | None,
        manifest: dict,
    ):
        if sample_rate is not None:
            sample_rate = check_int(sample_rate, "sample_rate")
        rate, source = _expected(sample_rate, "sample_rate", manifest)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate < 1):
            raise ValueError(f"{source}: 'sample_rate' must be a positive integer, got {rate!r}")
        headers = {}
        for record in self.records:
            if "audio" in record:
                name = os.path.normpath(record["audio"])
                headers[name] = wave_header(self.path / name, name)
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
            if this_rate != rate and not self.resample:
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
        self.sample_rate = rate
        self.frames = frames
        if audio_length == "auto":
            self.audio_length, self.audio_rule = auto_audio_length(list(frames.values()), rate)
        elif audio_length is not None:
            self.audio_length = check_int(audio_length, "audio_length", maximum=MAX_AUDIO_SAMPLES)
        elif audio_seconds is not None:
            self.audio_length = max(1, round(audio_seconds * (rate or 1)))
            if self.audio_length > MAX_AUDIO_SAMPLES:
                raise ValueError(
                    f"`{shown('audio_seconds')}` {audio_seconds:g} s is {self.audio_length:,} "
                    f"samples at {rate} Hz, more than the {MAX_AUDIO_SAMPLES:,} a clip may have"
                )
        else:
            self.audio_length = next(iter(frames.values()), 1)
            if self.audio_length > MAX_AUDIO_SAMPLES:
                raise ValueError(
                    f"{next(iter(frames))}: {self.audio_length:,} samples, more than the "
                    f"{MAX_AUDIO_SAMPLES:,} a clip may have (pass --audio-seconds to cut them)"
                )

    def _index_registered(self, modality: str, manifest: dict) -> None:
        """The item shape of a registered modality: the manifest's `"shapes"`, else the
        first file's (every file is checked against it when read)."""
        declared = manifest.get("shapes", {})
        if not isinstance(declared, dict):
            raise ValueError(f"{MANIFEST}: 'shapes' must map modalities to item shapes")
        kind = self.kinds[modality]
        if kind.read is None:
            raise ValueError(
                f"{MANIFEST}: modality {modality!r} has no files to read (its Modality has no "
                "`suffix` and `read`), so a folder cannot hold it"
            )
        if modality in declared:
            where = f"{MANIFEST}: 'shapes'[{modality!r}]"
            shape = check_shape(declared[modality], where, length=kind.rank)
            kind.check(np.zeros(shape, kind.dtype), where)
        else:
            first = next((r for r in self.records if modality in r), None)
            if first is None:
                raise ValueError(
                    f"{MANIFEST}: no sample has a {modality!r} file, and 'shapes' does not "
                    f"give its item shape"
                )
            shape = self._registered(first, modality, None).shape
        self.shapes[modality] = tuple(shape)

    def _index_metadata(self) -> None:
        records = self.records
        self.latents = None
        if any("latent" in r for r in records):
            try:
                self.latents = np.asarray([r["latent"] for r in records], dtype=np.float32)
                if self.latents.ndim != 2 or not np.all(np.isfinite(self.latents)):
                    raise ValueError
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"{MANIFEST}: every sample needs a 'latent' list of numbers of one length, "
                    "once any has one"
                ) from None
        self.alignments = None
        if any("alignment" in r for r in records):
            try:
                self.alignments = np.asarray([r["alignment"] for r in records], dtype=np.float32)
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"{MANIFEST}: every sample needs a numeric 'alignment', once any has one"
                ) from None
            bad = ~((self.alignments >= 0) & (self.alignments <= 1))
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"{MANIFEST}: samples[{i}] has 'alignment' {records[i]['alignment']!r}, "
                    "which is not in [0, 1]"
                )
        self.labels: list[str | None] | None = None
        if any("label" in r for r in records):
            labels: list[str | None] = []
            for i, record in enumerate(records):
                label = record.get("label")
                if isinstance(label, int) and not isinstance(label, bool):
                    label = str(label)
                if label is not None and (not isinstance(label, str) or not label):
                    raise ValueError(
                        f"{MANIFEST}: samples[{i}] has 'label' {label!r}; a label is a "
                        "non-empty string (or an integer)"
                    )
                labels.append(label)
            self.labels = labels

    # -- what it holds --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def present(self, modality: str) -> np.ndarray:
        """Which samples have `modality`, `(N,)` booleans."""
        if modality not in self.modalities:
            raise ValueError(f"this folder has no {modality!r}; it has {list(self.modalities)}")
        if modality == "text":
            return self._text_present
        return np.asarray([modality in r for r in self.records], bool)

    def _all_present(self) -> bool:
        return all(self.present(m).all() for m in self.modalities)

    @property
    def complete(self) -> bool:
        """Whether every sample has every modality."""
        return self._complete

    @property
    def label_names(self) -> tuple[str, ...] | None:
        """The distinct labels of the folder, sorted (naturally: "2" before "10"), or
        None; a `subset` keeps its folder's, so a label has one index in every split."""
        return self._label_names

    @property
    def spec(self) -> DataSpec:
        """The shapes of one example of each modality, as `read` returns them."""
        has = self.modalities
        tokens = self.tokens
        return DataSpec(
            modalities=has,
            image_shape=self.image_shape,
            vocab_size=None
            if tokens is None
            else (self.tokenizer.vocab_size if self.tokenizer else int(tokens.max()) + 1),
            seq_length=None if tokens is None else tokens.shape[1],
            pad_id=self.tokenizer.pad_id if self.tokenizer else None,
            num_audio_samples=self.audio_length,
            sample_rate=self.sample_rate,
            shapes=self.shapes,
        )

    def options(self) -> dict[str, Any]:
        """The arguments that read another folder exactly as this one is read (its
        shapes, transforms and tokenizer): `PairedFolder.with_options(path, options)`.
        JSON values; a run records them."""
        return {
            "image_shape": None if self.image_shape is None else list(self.image_shape),
            "resize": self.resize,
            "sample_rate": self.sample_rate,
            "resample": self.resample,
            "audio_length": self.audio_length if "audio" in self.modalities else None,
            "tokenizer": None if self.tokenizer is None else self.tokenizer.to_dict(),
            "allow_missing": self.allow_missing,
        }

    @classmethod
    def with_options(cls, path: str | os.PathLike, options: dict[str, Any]) -> "PairedFolder":
        """The folder at `path`, read with the `options` of another (`options()`)."""
        values = dict(options)
        tokenizer = values.pop("tokenizer", None)
        return cls(
            path,
            tokenizer=None if tokenizer is None else tokenizer_from_dict(tokenizer),
            **values,
        )

    def counts(self) -> dict[str, int]:
        """How many samples have each modality, and how many captions were cut."""
        out = {m: int(self.present(m).sum()) for m in self.modalities}
        if self.tokenizer is not None:
            out["truncated captions"] = self.truncated
        return out

    def subset(self, indices: Sequence[int] | np.ndarray) -> "PairedFolder":
        """The samples at `indices` (in that order), as a folder view that shares the files."""
        rows = check_indices(indices, len(self))
        view = object.__new__(PairedFolder)
        view.__dict__.update(self.__dict__)
        view.records = [self.records[i] for i in rows]
        view.ids = tuple(self.ids[i] for i in rows)
        if self.tokens is not None:
            view.tokens = self.tokens[rows]
            view._text_present = self._text_present[rows]
        for name in ("latents", "alignments"):
            value = getattr(self, name)
            if value is not None:
                setattr(view, name, value[rows])
        if self.labels is not None:
            view.labels = [self.labels[i] for i in rows]
        view._complete = view._all_present()
        return view

    # -- reading --------------------------------------------------------------------

    def _image(self, record: dict[str, Any]) -> np.ndarray:
        assert self.image_shape is not None
        name = os.path.normpath(record["image"])
        if not self.resize:
            pixels = read_image(self.path / name, name)
        else:
            Image = pillow_image()
            height, width, channels = self.image_shape
            with open_image(self.path / name, name) as image:
                image = image.convert(_CHANNEL_MODES[channels])
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(image)
            pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        if pixels.shape != self.image_shape:
            raise ValueError(
                f"{name}: {_shape_text(pixels.shape)}, expected {_shape_text(self.image_shape)}"
            )
        return pixels.astype(np.float32) / np.float32(IMAGE_SCALE)

    def _audio(self, record: dict[str, Any], rng: np.random.Generator | None) -> np.ndarray:
        assert self.sample_rate is not None and self.audio_length is not None
        name = os.path.normpath(record["audio"])
        values, rate = read_wave(self.path / name, name)
        if rate != self.sample_rate:
            if not self.resample:
                raise ValueError(f"{name}: sample rate {rate} Hz, expected {self.sample_rate} Hz")
            values = _resample(values, rate, self.sample_rate, name)
        return _crop(values, self.audio_length, rng).astype(np.float32)

    def _registered(
        self, record: dict[str, Any], modality: str, shape: tuple[int, ...] | None
    ) -> np.ndarray:
        """The item of a registered modality from its file, checked (the modality's
        dtype and item shape, and the folder's `shape` when given)."""
        kind = self.kinds[modality]
        name = os.path.normpath(record[modality])
        assert kind.read is not None
        item = _yours(kind.read, name, f"the {modality!r} reader", self.path / name, name)
        return kind.check(item, name, shape=shape)

    def _item(self, record: dict[str, Any], modality: str, rng: Any) -> np.ndarray:
        """A file modality of a sample, read and transformed (zeros when it lacks it)."""
        if modality == "image":
            if modality not in record:
                return np.zeros(self.image_shape, np.float32)  # type: ignore[arg-type]
            return self._image(record)
        if modality == "audio":
            if modality not in record:
                return np.zeros(self.audio_length, np.float32)  # type: ignore[arg-type]
            return self._audio(record, rng)
        shape = self.shapes[modality]
        kind = self.kinds[modality]
        if modality not in record:
            return np.zeros(shape, kind.dtype)
        item = self._registered(record, modality, shape)
        if kind.transform is None:
            return item
        name = os.path.normpath(record[modality])
        made = _yours(kind.transform, name, f"the {modality!r} transform", item, rng)
        return kind.check(made, f"{name} (after the {modality!r} transform)", shape=shape)

    def read(self, index: int, *, rng: np.random.Generator | None = None) -> dict[str, Any]:
        """Sample `index`, decoded and transformed: a dict of NumPy arrays with its
        modalities (zeros where missing), `"alignment_score"`, and `"latent"`,
        `"label"` and `"present"` when the folder has them.

        `rng`: cut long clips at a random window drawn from it (training) instead of
        the centre.
        """
        record = self.records[index]
        out: dict[str, Any] = {}
        present = {}
        for modality in self.modalities:
            if modality == "text":
                assert self.tokens is not None
                out["text"] = self.tokens[index]
                present["text"] = bool(self._text_present[index])
                continue
            present[modality] = modality in record
            out[modality] = self._item(record, modality, rng)
        if self.latents is not None:
            out["latent"] = self.latents[index]
        out["alignment_score"] = np.float32(
            1.0 if self.alignments is None else self.alignments[index]
        )
        if self.labels is not None:
            names = self.label_names or ()
            label = self.labels[index]
            out["label"] = np.int32(-1 if label is None else names.index(label))
        if not self.complete:
            out["present"] = {m: np.bool_(v) for m, v in present.items()}
        return out

    def load(self) -> PairedDataset:
        """Every sample, decoded, in memory."""
        data: dict[str, np.ndarray] = {}
        for modality in self.modalities:
            if modality == "text":
                assert self.tokens is not None
                data["text"] = self.tokens
            else:
                rows = [self.read_one(i, modality) for i in range(len(self))]
                data[modality] = np.stack(rows)
        if self.latents is not None:
            data["latent"] = self.latents
        pairs = self.pairs
        return PairedDataset(
            data,
            pairs=pairs,
            alignments=self.alignments,
            present=None if self.complete else {m: self.present(m) for m in self.modalities},
            labels=self.labels,
            label_names=self.label_names,
            ids=self.ids,
            vocab_size=self.spec.vocab_size,
            pad_id=self.spec.pad_id,
            sample_rate=self.sample_rate,
        )

    def read_one(self, index: int, modality: str) -> np.ndarray:
        """One modality of sample `index` (zeros when the sample lacks it)."""
        if modality not in self.modalities:
            raise ValueError(f"this folder has no {modality!r}; it has {list(self.modalities)}")
        if modality == "text":
            assert self.tokens is not None
            return self.tokens[index]
        return self._item(self.records[index], modality, None)

    def fingerprint(self) -> str:
        """A short hash of what `read` returns: the folder, its samples and the transforms.

        A run records it, so that resuming on other data is refused.
        """
        digest = hashlib.sha1(str(self.path.resolve()).encode())
        digest.update(json.dumps([self.records, self.options()], sort_keys=True).encode())
        if self.tokens is not None:
            digest.update(self.tokens.tobytes())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"PairedFolder({str(self.path)!r}, {len(self)} samples, {list(self.modalities)})"


def _yours(function: Any, name: str, what: str, *args: Any) -> Any:
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


def load_paired_folder(
    path: str | os.PathLike,
    *,
    image_shape: Sequence[int] | None = None,
    sample_rate: int | None = None,
    **options: Any,
) -> PairedDataset:
    """Load a paired folder (from `save_paired_folder`, `eqx-multimodal export` or by hand)
    into memory.

    Every file is checked: mismatched counts, unreadable files, and images or audio whose
    size, rate, channels or length differ from the rest raise a ValueError that names the
    file. Images load as float32 in [0, 1] (pixels / 255), audio as float32 in [-1, 1]
    (PCM / its full scale, 32767 for 16 bits), tokens as int32 (captions through the
    tokenizer). For a folder larger than memory, read it through `PairedFolder`.

    **Arguments:**

    - `path`: the folder.
    - `image_shape`, `sample_rate`: keyword only. What every image and WAV file must be;
        default the manifest's, else the first file's.
    - `**options`: keyword only. The transforms and options of `PairedFolder`
        (`resize`, `resample`, `audio_length`, `tokenizer`, `allow_missing`).

    **Returns:**

    A `PairedDataset` of the folder's modalities (and latents, when the manifest has
    them), with its alignment scores, pairs (by default 1 and every pair), labels and ids.

    ```python
    >>> import tempfile
    >>> import jax.numpy as jnp
    >>> from eqx_multimodal import save_paired_folder
    >>> folder = Path(tempfile.mkdtemp()) / "pairs"
    >>> _ = save_paired_folder(folder, {"text": jnp.arange(6).reshape(2, 3)})
    >>> load_paired_folder(folder)[1]["text"]
    Array([3, 4, 5], dtype=int32)

    ```
    """
    return PairedFolder(path, image_shape=image_shape, sample_rate=sample_rate, **options).load()

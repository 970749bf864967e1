"""Paired data as ordinary files: PNG images, 16-bit WAV audio, JSON-lines tokens.

A paired folder looks like this (only the modalities present need their files):

```
manifest.json    {"format": ..., "modalities": [...], "sample_rate": ..., "samples": [
                    {"id": "000000", "image": "image/000000.png", "audio": "audio/000000.wav",
                     "alignment": 0.8, "latent": [...]}, ...]}
image/000000.png one image a sample: L, LA, RGB or RGBA (also any format Pillow reads)
audio/000000.wav one mono PCM WAV a sample, every one at the same rate and length
text.jsonl       one line a sample: {"id": "000000", "tokens": [12, 7, ...]}
```

The manifest is optional: without it the samples are the ids (file stems) found in
`image/`, `audio/` and `text.jsonl`, and every modality must have every id. Loading
checks everything and names the file at fault; nothing is skipped or silently
converted (a stereo WAV is an error, not a mix-down). Writing goes to a hidden sibling
folder that is renamed into place at the end, so a folder is complete or absent.
"""

import json
import os
import re
import shutil
import tempfile
import wave
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float

from .._types import MODALITIES
from .._validation import check_int, check_shape
from ._paired import PairedDataset


MANIFEST = "manifest.json"
TEXT_FILE = "text.jsonl"
FORMAT = "eqx-multimodal paired folder"
VERSION = 1
PILLOW_HINT = 'Pillow is needed to read and write images: pip install "eqx-multimodal[files]"'

# Image values are written as round(x * 255) and audio as round(x * 32767), and read back
# by dividing by the same scale, so a round trip is exact up to half a quantisation step.
_IMAGE_SCALE = 255
_PCM_BYTES = 2


def pillow_image() -> Any:
    """`PIL.Image`, or an ImportError that says how to install Pillow."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(PILLOW_HINT) from error
    return Image


def _file_name(modality: str, sample_id: str) -> str:
    suffix = {"image": ".png", "audio": ".wav"}[modality]
    return f"{modality}/{sample_id}{suffix}"


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


def short_float(value: Any) -> float:
    """A float32 as the shortest decimal that reads back as the same float32."""
    return float(str(np.float32(value)))


class PairedFolderWriter:
    """Writes samples to a new paired folder, a batch at a time.

    ```python
    with PairedFolderWriter("out", modalities=("image",)) as writer:
        writer.write({"image": images})
    ```

    The samples go to a hidden sibling folder that is renamed to `path` when the
    `with` block ends without an error, and removed when it ends with one.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        modalities: Sequence[str],
        sample_rate: int | None = None,
        pairs: Sequence[Sequence[str]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.modalities = tuple(m for m in MODALITIES if m in modalities)
        unknown = sorted(set(modalities) - set(MODALITIES))
        if unknown or not self.modalities:
            raise ValueError(
                f"`modalities` must be a non-empty selection of {MODALITIES}, got {modalities!r}"
            )
        if "audio" in self.modalities:
            if sample_rate is None:
                raise ValueError("`sample_rate` is required to write audio, got None")
            sample_rate = check_int(sample_rate, "sample_rate")
        self.sample_rate = sample_rate
        self.pairs = None if pairs is None else [list(p) for p in pairs]
        self.metadata = dict(metadata or {})
        if "image" in self.modalities:
            pillow_image()
        check_new_folder(self.path)
        self.samples: list[dict[str, Any]] = []
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._tmp: Path | None = None
        self._text: Any = None

    def __enter__(self) -> "PairedFolderWriter":
        parent = self.path.parent
        if not parent.is_dir():
            raise FileNotFoundError(
                f"the folder {str(parent)!r} to hold {self.path.name!r} does not exist"
            )
        self._tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial", dir=parent)
        )
        for modality in ("image", "audio"):
            if modality in self.modalities:
                (self._tmp / modality).mkdir()
        if "text" in self.modalities:
            self._text = open(self._tmp / TEXT_FILE, "w", encoding="utf-8")
        return self

    def write(
        self,
        data: Mapping[str, ArrayLike],
        *,
        alignments: Float[ArrayLike, " batch"] | None = None,
    ) -> None:
        """Append a batch: `data` maps every modality (and optionally `"latent"`) to an
        array with a leading batch axis; `alignments` are the batch's scores, if any."""
        assert self._tmp is not None, "use PairedFolderWriter in a `with` block"
        expected = {*self.modalities, "latent"}
        unknown = sorted(set(data) - expected)
        missing = [m for m in self.modalities if m not in data]
        if unknown or missing:
            raise ValueError(
                f"`data` must have the keys {list(self.modalities)} (and optionally 'latent'), "
                f"got {list(data)}"
            )
        arrays = {name: np.asarray(value) for name, value in data.items()}
        size = len(next(iter(arrays.values())))
        for name, array in arrays.items():
            if array.ndim == 0 or len(array) != size:
                raise ValueError(
                    f"every array in `data` must have the same leading axis, got "
                    f"{ {k: v.shape for k, v in arrays.items()} }"
                )
            # Every sample of a folder has one shape, or it could not be loaded back.
            shape = self._shapes.setdefault(name, array.shape[1:])
            if array.shape[1:] != shape:
                raise ValueError(
                    f"`data[{name!r}]` has samples of shape {array.shape[1:]}, but the "
                    f"samples written before have {shape}"
                )
        scores = None
        if alignments is not None:
            scores = np.asarray(alignments, dtype=np.float32)
            if scores.shape != (size,) or np.any(~((scores >= 0) & (scores <= 1))):
                raise ValueError(
                    f"`alignments` must be {size} scores in [0, 1], one a sample, got {scores!r}"
                )
        offset = len(self.samples)
        width = max(6, len(str(offset + size - 1)))
        ids = [f"{offset + i:0{width}d}" for i in range(size)]
        records: list[dict[str, Any]] = [{"id": sample_id} for sample_id in ids]
        if "image" in arrays:
            self._write_images(arrays["image"], ids, records, offset)
        if "audio" in arrays:
            self._write_audio(arrays["audio"], ids, records, offset)
        if "text" in arrays:
            self._write_text(arrays["text"], ids, offset)
        for i, record in enumerate(records):
            if scores is not None:
                record["alignment"] = short_float(scores[i])
            if "latent" in arrays:
                record["latent"] = [short_float(v) for v in arrays["latent"][i].ravel()]
        self.samples.extend(records)

    def _write_images(self, images: np.ndarray, ids: list[str], records: list, offset: int) -> None:
        Image = pillow_image()
        if images.ndim != 4 or images.shape[-1] not in (1, 2, 3, 4):
            raise ValueError(
                "`data['image']` must have shape (N, height, width, channels) with 1 to 4 "
                f"channels to be saved as PNG, got {images.shape}"
            )
        _check_range("image", images, 0.0, 1.0, offset)
        pixels = np.round(np.clip(images, 0.0, 1.0) * _IMAGE_SCALE).astype(np.uint8)
        for sample_id, record, image in zip(ids, records, pixels):
            name = _file_name("image", sample_id)
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
                self._tmp_path(name), format="PNG"
            )
            record["image"] = name

    def _write_audio(self, audio: np.ndarray, ids: list[str], records: list, offset: int) -> None:
        if audio.ndim != 2:
            raise ValueError(f"`data['audio']` must have shape (N, samples), got {audio.shape}")
        _check_range("audio", audio, -1.0, 1.0, offset)
        assert self.sample_rate is not None  # checked in __init__
        full_scale = 2 ** (8 * _PCM_BYTES - 1) - 1
        pcm = np.round(np.clip(audio, -1.0, 1.0) * full_scale).astype("<i2")
        for sample_id, record, wave_ in zip(ids, records, pcm):
            name = _file_name("audio", sample_id)
            with wave.open(str(self._tmp_path(name)), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(_PCM_BYTES)
                f.setframerate(self.sample_rate)
                f.writeframes(wave_.tobytes())
            record["audio"] = name

    def _write_text(self, tokens: np.ndarray, ids: list[str], offset: int) -> None:
        if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(
                f"`data['text']` must be integer tokens of shape (N, length), got "
                f"{tokens.dtype} {tokens.shape}"
            )
        bad = (tokens < 0) | (tokens >= 2**31)
        if np.any(bad):
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ValueError(
                f"`data['text']` tokens must be in [0, 2**31), got {tokens[i][bad[i]][0]} in "
                f"sample {offset + i}"
            )
        for sample_id, row in zip(ids, tokens.tolist()):
            self._text.write(json.dumps({"id": sample_id, "tokens": row}) + "\n")

    def _tmp_path(self, name: str) -> Path:
        assert self._tmp is not None
        return self._tmp / name

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if self._text is not None:
            self._text.close()
        assert self._tmp is not None
        if error is not None or not self.samples:
            shutil.rmtree(self._tmp, ignore_errors=True)
            if error is None:
                raise ValueError("no samples were written; the folder was not created")
            return
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "modalities": list(self.modalities),
            "num_samples": len(self.samples),
        }
        if "image" in self._shapes:
            manifest["image_shape"] = list(self._shapes["image"])
        if self.sample_rate is not None:
            manifest["sample_rate"] = self.sample_rate
        if self.pairs is not None:
            manifest["pairs"] = self.pairs
        manifest.update(self.metadata)
        # Readable: the header indented, then one line a sample.
        header = json.dumps(manifest, indent=1)[:-2]
        samples = ",\n  ".join(json.dumps(record) for record in self.samples)
        text = f'{header},\n "samples": [\n  {samples}\n ]\n}}\n'
        (self._tmp / MANIFEST).write_text(text, encoding="utf-8")
        check_new_folder(self.path)
        if self.path.exists():
            self.path.rmdir()
        os.replace(self._tmp, self.path)


def check_new_folder(path: Path) -> None:
    """A folder to write into must not exist yet, or be empty."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(
            f"{str(path)!r} already exists and is not an empty folder; choose a new folder"
        )


def save_paired_folder(
    path: str | os.PathLike,
    data: Mapping[str, ArrayLike],
    *,
    sample_rate: int | None = None,
    alignments: Float[ArrayLike, " n"] | None = None,
    pairs: Sequence[Sequence[str]] | None = None,
) -> Path:
    """Save paired arrays as a folder of files that `load_paired_folder` reads back.

    **Arguments:**

    - `path`: a folder that does not exist yet (or is empty).
    - `data`: a dict with some of `"image"` (`(N, H, W, C)` in [0, 1], 1 to 4 channels),
        `"text"` (`(N, length)` integers) and `"audio"` (`(N, samples)` in [-1, 1]), and
        optionally `"latent"` (`(N, latent_dim)`, kept in the manifest).
    - `sample_rate`: keyword only. The audio's rate in Hz; required with audio.
    - `alignments`: keyword only. Optional scores in [0, 1], one a sample.
    - `pairs`: keyword only. Optional pairs of modalities, kept in the manifest.

    **Returns:**

    The folder's path.

    ```python
    >>> import tempfile
    >>> import jax.numpy as jnp
    >>> folder = Path(tempfile.mkdtemp()) / "pairs"
    >>> data = {"image": jnp.zeros((2, 8, 8, 3)), "text": jnp.ones((2, 5), jnp.int32)}
    >>> sorted(p.name for p in save_paired_folder(folder, data).iterdir())
    ['image', 'manifest.json', 'text.jsonl']

    ```
    """
    modalities = [name for name in data if name != "latent"]
    with PairedFolderWriter(path, modalities=modalities, sample_rate=sample_rate, pairs=pairs) as w:
        w.write(data, alignments=alignments)
    return Path(path)


def _natural(name: str) -> list[Any]:
    """Sort key that puts `2.png` before `10.png`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{MANIFEST}: cannot read it as JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("samples"), list):
        raise ValueError(f"{MANIFEST}: must be a JSON object with a list of 'samples'")
    if manifest.get("version", VERSION) != VERSION:
        raise ValueError(
            f"{MANIFEST}: format version {manifest['version']!r}; this release reads {VERSION}"
        )
    return manifest


def _files_in(folder: Path, modality: str) -> list[str]:
    """The visible files of a modality's sub-folder, as `modality/name`, in natural order."""
    sub = folder / modality
    if not sub.is_dir():
        return []
    names = [f"{modality}/{p.name}" for p in sub.iterdir() if not p.name.startswith(".")]
    return sorted(names, key=_natural)


def _records_from_manifest(
    folder: Path, manifest: dict[str, Any], text: dict[str, list[int]] | None
) -> tuple[list[dict[str, Any]], list[str]]:
    modalities = manifest.get("modalities")
    if (
        not isinstance(modalities, list)
        or not modalities
        or any(m not in MODALITIES for m in modalities)
        or len(set(modalities)) != len(modalities)
    ):
        raise ValueError(
            f"{MANIFEST}: 'modalities' must list some of {list(MODALITIES)}, got {modalities!r}"
        )
    records = manifest["samples"]
    declared = manifest.get("num_samples", len(records))
    if declared != len(records):
        raise ValueError(
            f"{MANIFEST}: 'num_samples' is {declared} but 'samples' lists {len(records)}"
        )
    seen = set()
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ValueError(f"{MANIFEST}: samples[{i}] must be an object with a string 'id'")
        if record["id"] in seen:
            raise ValueError(f"{MANIFEST}: samples[{i}] repeats the id {record['id']!r}")
        seen.add(record["id"])
        for modality in ("image", "audio"):
            if modality in modalities and not isinstance(record.get(modality), str):
                raise ValueError(
                    f"{MANIFEST}: samples[{i}] (id {record['id']!r}) names no {modality} file"
                )
    # Files that no sample names would be lost without a word: refuse them instead.
    for modality in ("image", "audio"):
        listed = {os.path.normpath(r[modality]) for r in records if modality in modalities}
        for name in _files_in(folder, modality):
            if os.path.normpath(name) not in listed:
                raise ValueError(
                    f"{name}: not listed in {MANIFEST}; add it to 'samples' or remove it"
                )
    if text is not None and "text" not in modalities:
        raise ValueError(f"{TEXT_FILE}: present, but {MANIFEST} lists no 'text' modality")
    if text is None and "text" in modalities:
        raise ValueError(f"{TEXT_FILE}: missing, but {MANIFEST} lists the 'text' modality")
    return records, [m for m in MODALITIES if m in modalities]


def _records_from_scan(
    folder: Path, text: dict[str, list[int]] | None
) -> tuple[list[dict[str, Any]], list[str]]:
    found: dict[str, dict[str, str]] = {}
    for modality in ("image", "audio"):
        if (folder / modality).is_dir():
            by_id: dict[str, str] = {}
            for name in _files_in(folder, modality):
                stem = Path(name).stem
                if stem in by_id:
                    raise ValueError(f"{name}: a second {modality} file for id {stem!r}")
                by_id[stem] = name
            found[modality] = by_id
    if text is not None:
        found["text"] = {sample_id: TEXT_FILE for sample_id in text}
    if not found:
        raise FileNotFoundError(
            f"{str(folder)!r} has no {MANIFEST}, image/, audio/ or {TEXT_FILE}: not a paired folder"
        )
    modalities = [m for m in MODALITIES if m in found]
    ids = sorted(set().union(*found.values()), key=_natural)
    for modality in modalities:
        missing = [i for i in ids if i not in found[modality]]
        if missing:
            counts = ", ".join(f"{len(found[m])} {m}" for m in modalities)
            where = TEXT_FILE if modality == "text" else f"{modality}/"
            raise ValueError(
                f"mismatched counts ({counts}): {where} has nothing for id {missing[0]!r}, "
                f"which {', '.join(m for m in modalities if missing[0] in found[m])} has"
            )
    records = [{"id": i, **{m: found[m][i] for m in ("image", "audio") if m in found}} for i in ids]
    return records, modalities


def _read_text(folder: Path) -> dict[str, list[int]] | None:
    path = folder / TEXT_FILE
    if not path.exists():
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{TEXT_FILE}: cannot read it ({error})") from None
    tokens: dict[str, list[int]] = {}
    length = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{TEXT_FILE} line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not JSON ({error})") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError(f'{where}: expected {{"id": "...", "tokens": [...]}}, got {line[:60]}')
        row = entry.get("tokens")
        if (
            not isinstance(row, list)
            or not row
            or any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < 2**31 for t in row)
        ):
            raise ValueError(f"{where}: 'tokens' must be a non-empty list of non-negative integers")
        if length is None:
            length = len(row)
        elif len(row) != length:
            raise ValueError(f"{where}: {len(row)} tokens, but the lines before have {length}")
        if entry["id"] in tokens:
            raise ValueError(f"{where}: repeats the id {entry['id']!r}")
        tokens[entry["id"]] = row
    return tokens


def _load_image(folder: Path, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    Image = pillow_image()
    try:
        with Image.open(folder / name) as image:
            image.load()
            if image.mode == "1":
                image = image.convert("L")
            elif image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            mode = image.mode
            pixels = np.asarray(image)
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{name}: cannot read it as an image ({error})") from None
    if mode not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"{name}: image mode {mode!r} is not supported; save it as 8-bit L or RGB")
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    return pixels, pixels.shape


def _load_wave(folder: Path, name: str) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(folder / name), "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            frames = f.getnframes()
            raw = f.readframes(frames)
    except (OSError, EOFError, wave.Error) as error:
        raise ValueError(f"{name}: cannot read it as a PCM WAV file ({error})") from None
    if channels != 1:
        raise ValueError(f"{name}: {channels} channels; every audio file must be mono")
    if len(raw) != frames * width:
        raise ValueError(f"{name}: truncated ({len(raw)} bytes for {frames} frames)")
    if width == 1:  # 8-bit WAV is unsigned
        values = np.frombuffer(raw, np.uint8).astype(np.float64) - 128
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = (b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16).astype(np.float64)
        values = np.where(values >= 2**23, values - 2**24, values)
    else:
        values = np.frombuffer(raw, f"<i{width}").astype(np.float64)
    full_scale = 2 ** (8 * width - 1) - 1
    return np.clip(values / full_scale, -1.0, 1.0).astype(np.float32), rate


def _load_files(
    folder: Path,
    records: list[dict[str, Any]],
    modality: str,
    load: Callable[[Path, str], tuple[np.ndarray, Any]],
    what: str,
    describe: Callable[[Any], str],
    expected: Any,
    source: str,
) -> np.ndarray:
    """Every sample's file, each checked against `expected` (default: the first file's)."""
    arrays = []
    for record in records:
        name = os.path.normpath(record[modality])
        array, value = load(folder, name)
        if expected is None:
            expected, source = value, name
        if value != expected:
            raise ValueError(
                f"{name}: {what}{describe(value)}, expected {describe(expected)} ({source})"
            )
        arrays.append(array)
    return np.stack(arrays)


def load_paired_folder(
    path: str | os.PathLike,
    *,
    image_shape: Sequence[int] | None = None,
    sample_rate: int | None = None,
) -> PairedDataset:
    """Load a paired folder (from `save_paired_folder`, `eqx-multimodal export` or by hand).

    Every file is checked: mismatched counts, unreadable files, and images or audio whose
    size, rate, channels or length differ from the rest raise a ValueError that names the
    file. Images load as float32 in [0, 1] (pixels / 255), audio as float32 in [-1, 1]
    (PCM / its full scale, 32767 for 16 bits), tokens as int32.

    **Arguments:**

    - `path`: the folder.
    - `image_shape`: keyword only. The `(height, width, channels)` every image must
        have; default the manifest's, else the first image's.
    - `sample_rate`: keyword only. The rate in Hz every WAV file must have; default the
        manifest's, else the first file's.

    **Returns:**

    A `PairedDataset` of the folder's modalities, plus `"latent"` when the manifest has
    latents, with its alignment scores and pairs (by default 1 and every pair).

    ```python
    >>> import tempfile
    >>> import jax.numpy as jnp
    >>> folder = Path(tempfile.mkdtemp()) / "pairs"
    >>> _ = save_paired_folder(folder, {"text": jnp.arange(6).reshape(2, 3)})
    >>> load_paired_folder(folder)[1]["text"]
    Array([3, 4, 5], dtype=int32)

    ```
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"`path` {str(folder)!r} is not a folder")
    if image_shape is not None:
        image_shape = check_shape(image_shape, "image_shape", length=3)
    if sample_rate is not None:
        sample_rate = check_int(sample_rate, "sample_rate")
    manifest = _read_manifest(folder)
    text = _read_text(folder)
    if manifest is None:
        records, modalities = _records_from_scan(folder, text)
        manifest = {}
    else:
        records, modalities = _records_from_manifest(folder, manifest, text)
    if not records:
        raise ValueError(f"`path` {str(folder)!r} holds no samples")

    def expectation(argument: Any, key: str) -> tuple[Any, str]:
        if argument is not None:
            return argument, f"`{key}`"
        if key in manifest:
            value = manifest[key]
            return (tuple(value) if isinstance(value, list) else value), MANIFEST
        return None, ""

    data: dict[str, np.ndarray] = {}
    if "image" in modalities:
        pixels = _load_files(
            folder,
            records,
            "image",
            _load_image,
            "",
            lambda shape: "{}x{} with {} channel(s)".format(*shape),
            *expectation(image_shape, "image_shape"),
        )
        data["image"] = pixels.astype(np.float32) / np.float32(_IMAGE_SCALE)
    if "text" in modalities:
        assert text is not None
        ids = [r["id"] for r in records]
        for sample_id in ids:
            if sample_id not in text:
                raise ValueError(f"{TEXT_FILE}: no line for id {sample_id!r}")
        extra = sorted(set(text) - set(ids), key=_natural)
        if extra:
            raise ValueError(f"{TEXT_FILE}: id {extra[0]!r} is not a sample in {MANIFEST}")
        data["text"] = np.asarray([text[i] for i in ids], dtype=np.int32)
    if "audio" in modalities:
        lengths = {}

        def load_audio(folder: Path, name: str) -> tuple[np.ndarray, int]:
            values, rate = _load_wave(folder, name)
            lengths[name] = len(values)
            first_name, first = next(iter(lengths.items()))
            if len(values) != first:
                raise ValueError(f"{name}: {len(values)} samples, expected {first} ({first_name})")
            return values, rate

        data["audio"] = _load_files(
            folder,
            records,
            "audio",
            load_audio,
            "sample rate ",
            lambda rate: f"{rate} Hz",
            *expectation(sample_rate, "sample_rate"),
        )
    if any("latent" in r for r in records):
        try:
            data["latent"] = np.asarray([r["latent"] for r in records], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{MANIFEST}: every sample needs a 'latent' list of numbers of one length, "
                "once any has one"
            ) from None
    alignments = None
    if any("alignment" in r for r in records):
        try:
            alignments = np.asarray([r["alignment"] for r in records], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{MANIFEST}: every sample needs a numeric 'alignment', once any has one"
            ) from None
        bad = ~((alignments >= 0) & (alignments <= 1))
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{MANIFEST}: samples[{i}] has 'alignment' {records[i]['alignment']!r}, "
                "which is not in [0, 1]"
            )
    pairs = manifest.get("pairs")
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(modalities) for b in modalities[i + 1 :]]
    return PairedDataset(data, pairs=pairs, alignments=alignments)

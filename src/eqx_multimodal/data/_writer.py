"""Writing a paired folder: PNG images, 16-bit WAV audio, JSON-lines text, a manifest.

Writing goes to a hidden sibling folder that is renamed into place at the end, so a
folder is complete or absent. A hidden `.NAME.*.partial` folder left by a writer that
was killed (no `with` block can clean up after SIGKILL) is removed by the next writer of
the same folder, which says so.
"""

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float

from .._io import umask
from .._validation import check_int
from ..modalities import get_modality, registered_modalities
from ._codecs import (
    pillow_image,
    quantise_audio,
    quantise_image,
    text_line,
    write_image,
    write_wave,
)
from ._manifest import file_modalities, file_name, FORMAT, MANIFEST, TEXT_FILE, VERSION


#: The modalities a folder keeps in its own formats (PNG, WAV at the folder's rate,
#: `text.jsonl`); every other registered modality is written by its `Modality.write`.
OWN_FORMATS = ("image", "text", "audio")


def short_float(value: Any) -> float:
    """A float32 as the shortest decimal that reads back as the same float32."""
    return float(str(np.float32(value)))


def check_new_folder(path: Path) -> None:
    """A folder to write into must not exist yet, or be empty."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(
            f"{str(path)!r} already exists and is not an empty folder; choose a new folder"
        )


def remove_partials(path: Path) -> list[Path]:
    """Remove the `.NAME.*.partial` folders that interrupted writers of `path` left."""
    parent = path.parent
    if not parent.is_dir():
        return []
    left = [p for p in parent.glob(f".{path.name}.*.partial") if p.is_dir()]
    for partial in left:
        shutil.rmtree(partial, ignore_errors=True)
    return left


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


class PairedFolderWriter:
    """Writes samples to a new paired folder, a batch at a time.

    ```python
    >>> import tempfile
    >>> import numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "out"
    >>> with PairedFolderWriter(path, modalities=("text",)) as writer:
    ...     writer.write({"text": np.zeros((2, 3), np.int32)}, labels=["a", "b"])
    >>> sorted(p.name for p in path.iterdir())
    ['manifest.json', 'text.jsonl']

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
        """**Arguments:**

        - `path`: a folder that does not exist yet (or is empty).
        - `modalities`: keyword only. Which modalities every batch holds: some of
            `"image"`, `"text"`, `"audio"` and the registered modalities with files.
        - `sample_rate`: keyword only. The audio's rate in Hz; required with audio.
        - `pairs`: keyword only. Optional pairs of modalities, kept in the manifest.
        - `metadata`: keyword only. More entries for the manifest (JSON values).
        """
        self.path = Path(path)
        registered = registered_modalities()
        self.modalities = tuple(m for m in registered if m in modalities)
        unknown = [m for m in modalities if m not in registered]
        if unknown or not self.modalities:
            why = f": {unknown[0]!r} is not a registered modality" if unknown else ""
            raise ValueError(
                f"`modalities` must be a non-empty selection of {registered}, got "
                f"{modalities!r}{why}"
            )
        for name in self.modalities:
            kind = get_modality(name)
            if name not in OWN_FORMATS and kind.write is None:
                raise ValueError(
                    f"`modalities`: modality {name!r} has no `write` (no files), so a folder "
                    "cannot hold it"
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
        for partial in remove_partials(self.path):
            print(f"removed {partial}, left by an interrupted writer", file=sys.stderr)
        self._tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial", dir=parent)
        )
        os.chmod(self._tmp, 0o777 & ~umask())
        for modality in file_modalities(self.modalities):
            (self._tmp / modality).mkdir()
        if "text" in self.modalities:
            self._text = open(self._tmp / TEXT_FILE, "w", encoding="utf-8")
        return self

    def write(
        self,
        data: Mapping[str, ArrayLike],
        *,
        alignments: Float[ArrayLike, " batch"] | None = None,
        labels: Sequence[str] | None = None,
        extra: Sequence[Mapping[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
    ) -> None:
        """Append a batch: `data` maps every modality (and optionally `"latent"`) to an
        array with a leading batch axis (`"text"`: integer tokens, or captions as
        strings); `alignments` are the batch's scores, `labels` its class labels and
        `extra` more manifest entries for each sample (JSON values), if any. `ids` name
        the samples (and their files); default the running count, `000000`, ...."""
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
        if labels is not None and (
            len(labels) != size or not all(isinstance(x, str) and x for x in labels)
        ):
            raise ValueError(f"`labels` must be {size} non-empty strings, one a sample")
        if extra is not None and (
            len(extra) != size or any(set(e) & {"id", *registered_modalities()} for e in extra)
        ):
            raise ValueError(
                f"`extra` must be {size} dicts, one a sample, without 'id' or modality keys"
            )
        offset = len(self.samples)
        if ids is None:
            width = max(6, len(str(offset + size - 1)))
            ids = [f"{offset + i:0{width}d}" for i in range(size)]
        else:
            ids = list(ids)
            for sample_id in ids:
                if (
                    not isinstance(sample_id, str)
                    or not sample_id
                    or sample_id.startswith(".")
                    or any(c in sample_id for c in "/\\\0")
                ):
                    raise ValueError(f"`ids` must be file-name-safe strings, got {sample_id!r}")
            taken = {r["id"] for r in self.samples}
            if len(ids) != size or len(set(ids)) != size or taken & set(ids):
                raise ValueError(f"`ids` must be {size} new, distinct ids, one a sample")
        records: list[dict[str, Any]] = [{"id": sample_id} for sample_id in ids]
        if "image" in arrays:
            self._write_images(arrays["image"], ids, records, offset)
        if "audio" in arrays:
            self._write_audio(arrays["audio"], ids, records, offset)
        if "text" in arrays:
            self._write_text(arrays["text"], ids, offset)
        for name in self.modalities:
            if name not in OWN_FORMATS:
                self._write_registered(name, arrays[name], ids, records, offset)
        for i, record in enumerate(records):
            if scores is not None:
                record["alignment"] = short_float(scores[i])
            if "latent" in arrays:
                record["latent"] = [short_float(v) for v in arrays["latent"][i].ravel()]
            if labels is not None:
                record["label"] = labels[i]
            if extra is not None:
                record.update(extra[i])
        self.samples.extend(records)

    def _write_images(self, images: np.ndarray, ids: list[str], records: list, offset: int) -> None:
        if images.ndim != 4 or images.shape[-1] not in (1, 2, 3, 4):
            raise ValueError(
                "`data['image']` must have shape (N, height, width, channels) with 1 to 4 "
                f"channels to be saved as PNG, got {images.shape}"
            )
        _check_range("image", images, 0.0, 1.0, offset)
        for sample_id, record, pixels in zip(ids, records, quantise_image(images)):
            name = file_name("image", sample_id)
            write_image(self._tmp_path(name), pixels)
            record["image"] = name

    def _write_audio(self, audio: np.ndarray, ids: list[str], records: list, offset: int) -> None:
        if audio.ndim != 2:
            raise ValueError(f"`data['audio']` must have shape (N, samples), got {audio.shape}")
        _check_range("audio", audio, -1.0, 1.0, offset)
        assert self.sample_rate is not None  # checked in __init__
        for sample_id, record, pcm in zip(ids, records, quantise_audio(audio)):
            name = file_name("audio", sample_id)
            write_wave(self._tmp_path(name), pcm, self.sample_rate)
            record["audio"] = name

    def _write_text(self, tokens: np.ndarray, ids: list[str], offset: int) -> None:
        if tokens.dtype.kind == "U" and tokens.ndim == 1:  # captions
            for sample_id, caption in zip(ids, tokens.tolist()):
                self._text.write(json.dumps({"id": sample_id, "text": caption}) + "\n")
            return
        if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(
                f"`data['text']` must be integer tokens of shape (N, length) or N captions "
                f"(strings), got {tokens.dtype} {tokens.shape}"
            )
        bad = (tokens < 0) | (tokens >= 2**31)
        if np.any(bad):
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ValueError(
                f"`data['text']` tokens must be in [0, 2**31), got {tokens[i][bad[i]][0]} in "
                f"sample {offset + i}"
            )
        for sample_id, row in zip(ids, tokens.tolist()):
            self._text.write(text_line(sample_id, row))

    def _write_registered(
        self, modality: str, items: np.ndarray, ids: list[str], records: list, offset: int
    ) -> None:
        kind = get_modality(modality)
        assert kind.write is not None
        kinds = "f" if kind.dtype == "float32" else "iu"
        if items.dtype.kind not in kinds:
            raise TypeError(
                f"`data[{modality!r}]` must hold {kind.dtype} values (modality {modality!r}), "
                f"got {items.dtype}"
            )
        items = items.astype(kind.dtype)
        for i, (sample_id, record, item) in enumerate(zip(ids, records, items)):
            kind.check(item, f"`data[{modality!r}]` sample {offset + i}")
            name = file_name(modality, sample_id)
            kind.write(self._tmp_path(name), item)
            record[modality] = name

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
        shapes = {m: list(self._shapes[m]) for m in self.modalities if m not in OWN_FORMATS}
        if shapes:
            manifest["shapes"] = shapes
        if self.pairs is not None:
            manifest["pairs"] = self.pairs
        manifest.update(self.metadata)
        manifest["samples"] = self.samples
        text = json.dumps(manifest, indent=1, allow_nan=False) + "\n"
        (self._tmp / MANIFEST).write_text(text, encoding="utf-8")
        check_new_folder(self.path)
        if self.path.exists():
            self.path.rmdir()
        os.replace(self._tmp, self.path)


def save_paired_folder(
    path: str | os.PathLike,
    data: Mapping[str, ArrayLike],
    *,
    sample_rate: int | None = None,
    alignments: Float[ArrayLike, " n"] | None = None,
    pairs: Sequence[Sequence[str]] | None = None,
    labels: Sequence[str] | None = None,
) -> Path:
    """Save paired arrays as a folder of files that `load_paired_folder` reads back.

    **Arguments:**

    - `path`: a folder that does not exist yet (or is empty).
    - `data`: a dict with some of `"image"` (`(N, H, W, C)` in [0, 1], 1 to 4 channels),
        `"text"` (`(N, length)` integers) and `"audio"` (`(N, samples)` in [-1, 1]), a
        registered modality of yours (`(N, *item shape)`, written by its `write`), and
        optionally `"latent"` (`(N, latent_dim)`, kept in the manifest).
    - `sample_rate`: keyword only. The audio's rate in Hz; required with audio.
    - `alignments`: keyword only. Optional scores in [0, 1], one a sample.
    - `pairs`: keyword only. Optional pairs of modalities, kept in the manifest.
    - `labels`: keyword only. Optional class labels (strings), one a sample.

    **Returns:**

    The folder's path.

    Images and audio are rounded to the nearest of their 256 or 65535 levels: loading
    them back gives each value within half a quantisation step (1/255, 1/32767) plus
    the float32 rounding of the result (at most 2**-24, a few thousandths of an audio
    step).

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
        w.write(data, alignments=alignments, labels=labels)
    return Path(path)

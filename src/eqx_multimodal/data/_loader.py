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

from .._validation import check_indices
from ..modalities import get_modality, Modality, registered_modalities
from ._formats import (
    AbstractColumn,
    auto_audio_length as auto_audio_length,
    AUTO_AUDIO_PERCENTILE as AUTO_AUDIO_PERCENTILE,
    AUTO_AUDIO_SECONDS as AUTO_AUDIO_SECONDS,
    storage_of,
)
from ._manifest import (
    Lines,
    MANIFEST,
    natural,
    read_manifest,
    records_from_manifest,
    records_from_scan,
)
from ._paired import PairedDataset
from ._spec import DataSpec
from ._text import Tokenizer


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
        self.allow_missing = bool(allow_missing)
        given: dict[str, Any] = {
            "image_shape": image_shape,
            "resize": bool(resize),
            "sample_rate": sample_rate,
            "resample": bool(resample),
            "audio_length": audio_length,
            "audio_seconds": audio_seconds,
            "tokenizer": tokenizer,
        }
        # Each modality's storage (a folder format) reads the arguments it declares.
        formats = {m: storage_of(get_modality(m)) for m in registered_modalities()}
        arguments = {m: {k: given[k] for k in f.keywords if k in given} for m, f in formats.items()}
        manifest = read_manifest(self.path)
        scanned: dict[str, Any] = {}
        lines: Lines = {}
        for name, storage in formats.items():
            file = storage.folder_file(get_modality(name))
            if file is not None:
                scanned[name] = storage.scan(self.path, get_modality(name))
                lines[name] = (file, None if scanned[name] is None else set(scanned[name]))
        if manifest is None:
            records, modalities = records_from_scan(self.path, lines, self.allow_missing)
            manifest = {}
        else:
            records, modalities = records_from_manifest(
                self.path, manifest, lines, self.allow_missing
            )
        if not records:
            raise ValueError(f"`path` {str(self.path)!r} holds no samples")
        for name, storage in formats.items():
            storage.check_arguments(arguments[name])
        self.modalities: tuple[str, ...] = modalities
        self.records = records
        self.ids: tuple[str, ...] = tuple(r["id"] for r in records)
        self.pairs = manifest.get("pairs")
        # The modalities' values travel with the folder (a grain worker process reads
        # with them, whatever its own registry holds).
        self.kinds: dict[str, Modality] = {m: get_modality(m) for m in modalities}
        self._columns: dict[str, AbstractColumn] = {}
        for name in modalities:
            kind, storage = self.kinds[name], formats[name]
            if kind.transform is not None and not storage.transforms:
                raise ValueError(
                    f"modality {name!r} is read by the folder's own format, with its own "
                    "transforms (see PairedFolder's arguments); its `transform` would not apply"
                )
            self._columns[name] = storage.index(
                kind, self.path, records, manifest, arguments[name], scanned.get(name)
            )
        # What a folder without a modality says of it (its `image_shape` is None, ...).
        self._absent = {
            m: (f.attributes(arguments[m]), f.options(arguments[m]))
            for m, f in formats.items()
            if m not in self._columns
        }
        self._registered = tuple(formats)
        self.shapes: dict[str, tuple[int, ...]] = {}
        for column in self._columns.values():
            self.shapes.update(column.spec().get("shapes", {}))
        self._index_metadata()
        self._label_names = (
            None
            if self.labels is None
            else tuple(sorted({x for x in self.labels if x is not None}, key=natural))
        )
        self._complete = self._all_present()

    # -- indexing -------------------------------------------------------------------

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

    def __getattr__(self, name: str) -> Any:
        """The attributes of the modalities' formats: `image_shape`, `sample_rate`,
        `audio_length`, `audio_rule`, `frames`, `resize`, `resample`, `tokenizer`,
        `tokens`, `truncated` (their defaults when the folder lacks the modality)."""
        facts = self.__dict__.get("_columns")
        if facts is not None and not name.startswith("__"):
            for modality in self.__dict__["_registered"]:
                column = facts.get(modality)
                found = (
                    column.attributes()
                    if column is not None
                    else self.__dict__["_absent"][modality][0]
                )
                if name in found:
                    return found[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def present(self, modality: str) -> np.ndarray:
        """Which samples have `modality`, `(N,)` booleans."""
        if modality not in self.modalities:
            raise ValueError(f"this folder has no {modality!r}; it has {list(self.modalities)}")
        return self._columns[modality].present(self.records)

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
        fields: dict[str, Any] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        for modality in self.modalities:
            part = dict(self._columns[modality].spec())
            shapes.update(part.pop("shapes", {}))
            fields.update(part)
        return DataSpec(modalities=self.modalities, shapes=shapes, **fields)

    def options(self) -> dict[str, Any]:
        """The arguments that read another folder exactly as this one is read (its
        shapes, transforms and tokenizer): `PairedFolder.with_options(path, options)`.
        JSON values; a run records them."""
        out: dict[str, Any] = {}
        for modality in self._registered:
            column = self._columns.get(modality)
            out.update(column.options() if column is not None else self._absent[modality][1])
        out["allow_missing"] = self.allow_missing
        return out

    @classmethod
    def with_options(cls, path: str | os.PathLike, options: dict[str, Any]) -> "PairedFolder":
        """The folder at `path`, read with the `options` of another (`options()`)."""
        values = dict(options)
        for modality in registered_modalities():
            values = storage_of(get_modality(modality)).from_options(values)
        return cls(path, **values)

    def counts(self) -> dict[str, int]:
        """How many samples have each modality, and how many captions were cut."""
        out = {m: int(self.present(m).sum()) for m in self.modalities}
        for modality in self.modalities:
            out.update(self._columns[modality].counts())
        return out

    def subset(self, indices: Sequence[int] | np.ndarray) -> "PairedFolder":
        """The samples at `indices` (in that order), as a folder view that shares the files."""
        rows = check_indices(indices, len(self))
        view = object.__new__(PairedFolder)
        view.__dict__.update(self.__dict__)
        view.records = [self.records[i] for i in rows]
        view.ids = tuple(self.ids[i] for i in rows)
        view._columns = {m: c.subset(rows) for m, c in self._columns.items()}
        for name in ("latents", "alignments"):
            value = getattr(self, name)
            if value is not None:
                setattr(view, name, value[rows])
        if self.labels is not None:
            view.labels = [self.labels[i] for i in rows]
        view._complete = view._all_present()
        return view

    # -- reading --------------------------------------------------------------------

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
            column = self._columns[modality]
            present[modality] = column.has(index, record)
            out[modality] = column.read(index, record, rng)
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
            whole = self._columns[modality].whole()
            if whole is None:
                whole = np.stack([self.read_one(i, modality) for i in range(len(self))])
            data[modality] = whole
        if self.latents is not None:
            data["latent"] = self.latents
        pairs = self.pairs
        spec = self.spec
        return PairedDataset(
            data,
            pairs=pairs,
            alignments=self.alignments,
            present=None if self.complete else {m: self.present(m) for m in self.modalities},
            labels=self.labels,
            label_names=self.label_names,
            ids=self.ids,
            vocab_size=spec.vocab_size,
            pad_id=spec.pad_id,
            sample_rate=spec.sample_rate,
        )

    def read_one(self, index: int, modality: str) -> np.ndarray:
        """One modality of sample `index` (zeros when the sample lacks it)."""
        if modality not in self.modalities:
            raise ValueError(f"this folder has no {modality!r}; it has {list(self.modalities)}")
        return self._columns[modality].read(index, self.records[index], None)

    def fingerprint(self) -> str:
        """A short hash of what `read` returns: the folder, its samples and the transforms.

        A run records it, so that resuming on other data is refused.
        """
        digest = hashlib.sha1(str(self.path.resolve()).encode())
        digest.update(json.dumps([self.records, self.options()], sort_keys=True).encode())
        for modality in self.modalities:
            digest.update(self._columns[modality].fingerprint())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"PairedFolder({str(self.path)!r}, {len(self)} samples, {list(self.modalities)})"


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

"""Writing a paired folder: each modality in its storage's format (PNG images, 16-bit WAV
audio, JSON-lines text, files of yours), and a manifest.

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
from ..modalities import get_modality, registered_modalities
from ._formats import AbstractColumnWriter, storage_of
from ._manifest import FORMAT, MANIFEST, VERSION


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
        # Each modality's storage (a folder format) writes it, and checks now that it can.
        self._formats = {m: storage_of(get_modality(m)) for m in registered}
        self.arguments: dict[str, Any] = {"sample_rate": sample_rate}
        for name in self.modalities:
            storage = self._formats[name]
            self.arguments.update(storage.check_writer(get_modality(name), self.arguments))
        self.sample_rate = self.arguments["sample_rate"]
        self.pairs = None if pairs is None else [list(p) for p in pairs]
        self.metadata = dict(metadata or {})
        check_new_folder(self.path)
        self.samples: list[dict[str, Any]] = []
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._tmp: Path | None = None
        self._writers: dict[str, AbstractColumnWriter] = {}

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
        for name in self.modalities:
            storage = self._formats[name]
            self._writers[name] = storage.writer(get_modality(name), self._tmp, self.arguments)
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
        for name in self.modalities:
            self._writers[name].write(arrays[name], ids, records, offset)
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

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        for writer in self._writers.values():
            writer.close()
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
        shapes: dict[str, Any] = {}
        for name, storage in self._formats.items():
            writer = self._writers.get(name)
            if writer is not None:
                entries = dict(writer.manifest(self._shapes[name]))
            else:
                entries = dict(storage.absent_manifest(self.arguments))
            shapes.update(entries.pop("shapes", {}))
            manifest.update(entries)
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

"""A run's folder: which files are the run's, and what starting a run in a folder may do.

A run writes `RUN_FILES` and the checkpoints `checkpoints/step-NNNNNNN.eqx`, and nothing
else; replacing a run (`overwrite`) removes exactly those, never a file of yours beside
them (`notes.txt`, `checkpoints/mine.eqx`, `checkpoints/mine/`). A folder that holds a
paired folder (your data) is never a run's folder.
"""

import os
import pathlib
import re
from collections.abc import Sequence

from .._validation import shown
from ..data._formats import storage_of
from ..data._manifest import file_modalities
from ..modalities import get_modality, registered_modalities
from ._checkpoint import CHECKPOINT_FILE, CONFIG, FOLDER, INDEX


METRICS = "metrics.jsonl"
EVALUATION = "evaluation.json"
DATA = "data.json"
REPORT = "report.png"
GENERATED = "generated.png"  # a generation run's samples (the command line's report)
#: The files a run writes at the top of its folder (besides `checkpoints/`).
RUN_FILES = (CONFIG, METRICS, INDEX, EVALUATION, REPORT, GENERATED, DATA)
#: What every run writes as it starts: a folder with neither is no run's.
_MARKERS = (METRICS, INDEX)
#: What makes a folder a paired folder (see `eqx_multimodal.data`), besides the files its
#: modalities' formats keep (`text.jsonl`, `NAME/`).
_DATA_FILES = ("manifest.json",)
_PARTIAL = re.compile(r"\..+\.[a-z0-9_]+\.tmp")  # `write_atomic`'s temporary files


def run_files(out: pathlib.Path) -> list[pathlib.Path]:
    """The files of `out` that a run wrote (or would write), checkpoints included."""
    found = [
        out / name for name in RUN_FILES if (out / name).is_symlink() or (out / name).is_file()
    ]
    found += [
        p
        for p in out.iterdir()
        if _PARTIAL.fullmatch(p.name) and any(p.name.startswith(f".{n}.") for n in RUN_FILES)
    ]
    folder = out / FOLDER
    if folder.is_dir() and not folder.is_symlink():
        for path in sorted(folder.iterdir()):
            name = f"{FOLDER}/{path.name}"
            partial = _PARTIAL.fullmatch(path.name) and CHECKPOINT_FILE.fullmatch(
                f"{FOLDER}/{path.name[1:].rsplit('.', 2)[0]}"
            )
            if (CHECKPOINT_FILE.fullmatch(name) and not path.is_dir()) or partial:
                found.append(path)
    return found


def data_files(folder: pathlib.Path) -> list[str]:
    """What in `folder` makes it a paired folder (your data), if anything: its manifest,
    the one file a folder that a modality's format keeps (`text.jsonl`, a `NAME.jsonl`
    of yours), or a sub-folder of a modality kept in files (yours included)."""
    kinds = [get_modality(m) for m in registered_modalities()]
    lines = [storage_of(kind).folder_file(kind) for kind in kinds]  # one file a folder
    names = [*_DATA_FILES, *(f for f in lines if f is not None), *file_modalities()]
    return [name for name in names if os.path.lexists(folder / name)]


def _flag(name: str) -> str:
    spelled = shown(name)
    return spelled if spelled.startswith("--") else f"`{name}=True`"


def prepare_run_folder(
    out: pathlib.Path,
    *,
    resume: bool,
    overwrite: bool,
    data_folders: Sequence[pathlib.Path | None] = (),
) -> None:
    """Check that a run may start in `out` (made by then), and with `overwrite` remove
    the previous run's files; the caller holds the folder's lock (`hold_folder`).

    Refused, with a one-line ValueError: a folder that holds a paired folder or is one
    of `data_folders`; `resume` with `overwrite`; a folder that holds a run, unless
    `resume` or `overwrite`; `overwrite` of a folder that holds some of a run's file
    names but is no run's (no `metrics.jsonl` or `checkpoint.json`).
    """
    where = f"`{shown('out')}` {str(out)!r}"
    if resume and overwrite:
        raise ValueError(
            f"{_flag('resume')} and {_flag('overwrite')} contradict each other; pass one"
        )
    for data in data_folders:
        if data is not None and out.resolve() == pathlib.Path(data).resolve():
            raise ValueError(f"{where} is the data folder; a run needs a folder of its own")
    found = data_files(out)
    if found:
        raise ValueError(
            f"{where} holds a paired folder ({', '.join(found)}): it is data, not a run's "
            "folder; choose another folder"
        )
    if resume:
        return
    present = run_files(out)
    if not present:
        return
    names = sorted({p.relative_to(out).parts[0] for p in present})
    if not overwrite:
        raise ValueError(
            f"{where} holds a run ({', '.join(names)}); pass {_flag('resume')} to continue "
            f"it, {_flag('overwrite')} to replace it, or choose another folder"
        )
    if not any((out / name).exists() for name in _MARKERS):
        raise ValueError(
            f"{where} holds {', '.join(names)} but no run ({' or '.join(_MARKERS)}); "
            "nothing was removed: choose another folder"
        )
    for path in present:
        path.unlink(missing_ok=True)
    folder = out / FOLDER
    if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        folder.rmdir()

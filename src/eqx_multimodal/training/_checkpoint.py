"""Checkpoints that survive a crash at any moment and say when they are not what they
claim to be.

A run's folder keeps its checkpoints in `checkpoints/step-NNNNNNN.eqx` (Equinox's own
serialisation of the training state) and an index, `checkpoint.json`, that names the
latest and the best (by validation recall) with each one's step and SHA-256. The state
file is written first, atomically, then the index, atomically: a crash leaves the
previous index pointing at complete files. Loading checks the file's checksum and that
the state's own step is the one the index records; any mismatch is a `CheckpointError`.
The last `keep` checkpoints and the best are kept; older ones are removed.
"""

import hashlib
import os
import pathlib
import re
from typing import Any

import equinox as eqx

from .._io import read_json, write_atomic, write_json


INDEX = "checkpoint.json"
FOLDER = "checkpoints"
CONFIG = "config.json"
FORMAT = 2
#: How a checkpoint file of a run is named: the index may name no other file.
CHECKPOINT_FILE = re.compile(rf"{FOLDER}/step-[0-9]{{7,}}\.eqx")


class CheckpointError(Exception):
    """A run's checkpoint that is missing, incomplete, corrupt or not what it claims."""


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_index(directory: pathlib.Path) -> dict[str, Any]:
    """The run's checkpoint index, checked for its shape."""
    directory = pathlib.Path(directory)
    if not directory.exists():
        raise CheckpointError(f"the run folder {str(directory)!r} does not exist")
    if not directory.is_dir():
        raise CheckpointError(
            f"{str(directory)!r} is a file; pass the run's folder (the one that holds {INDEX})"
        )
    path = directory / INDEX
    if not os.path.lexists(path):  # a link loop is an unreadable index, not none
        raise CheckpointError(f"{str(directory)!r} holds no checkpoint ({INDEX} expected)")
    try:
        index = read_json(path)
    except ValueError as error:
        raise CheckpointError(f"{error}; the index is corrupt") from None
    try:
        if index.get("format") != FORMAT:
            raise ValueError(f"format {index.get('format')!r}, expected {FORMAT}")
        records = [(entry, index[entry]) for entry in ("latest", "best") if index.get(entry)]
        if "latest" not in dict(records):
            raise KeyError("latest")
        kept = index.get("kept", [])
        if not isinstance(kept, list):
            raise TypeError("'kept' is not a list")
        records += [(f"kept[{i}]", record) for i, record in enumerate(kept)]
        for entry, record in records:
            name = record["file"]
            # The path is checked before anything reads it: an index may name only a
            # checkpoint of its own run (never `../../etc/passwd`).
            if not isinstance(name, str) or not CHECKPOINT_FILE.fullmatch(name):
                raise ValueError(
                    f"{entry!r} names the file {name!r}; a checkpoint is "
                    f"{FOLDER}/step-NNNNNNN.eqx of the run"
                )
            step = record["step"]
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise ValueError(f"{entry!r} has step {step!r}")
            if not isinstance(record["sha256"], str):
                raise ValueError(f"{entry!r} has sha256 {record['sha256']!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(f"{str(path)!r} is corrupt ({error})") from None
    return index


def save_checkpoint(
    directory: pathlib.Path,
    state: Any,
    step: int,
    *,
    keep: int = 3,
    best: float | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Save a training state taken at `step` and make it the latest checkpoint.

    **Arguments:**

    - `directory`: the run's folder.
    - `state`: a pytree (model, optimiser state, step).
    - `step`: the step it was taken at (a `TrainState`'s own step must agree).
    - `keep`: keyword only. How many of the latest checkpoints to keep (the best is
        kept too).
    - `best`: keyword only. The validation score of this state, when it is the best
        so far (it then becomes the best checkpoint).
    - `extra`: keyword only. More JSON values for the index (e.g. the data's position).
    """
    directory = pathlib.Path(directory)
    (directory / FOLDER).mkdir(parents=True, exist_ok=True)
    name = f"{FOLDER}/step-{int(step):07d}.eqx"
    write_atomic(directory / name, lambda f: eqx.tree_serialise_leaves(f, state))
    record = {"file": name, "step": int(step), "sha256": _sha256(directory / name)}
    previous = read_index(directory) if (directory / INDEX).exists() else {}
    kept = [r for r in previous.get("kept", []) if r["file"] != name] + [record]
    kept = kept[-keep:]
    best_record = previous.get("best")
    if best is not None:
        best_record = {**record, "score": float(best)}
    elif best_record is not None and best_record["file"] == name:
        best_record = None  # overwritten by a state that was not scored
    index = {"format": FORMAT, "latest": record, "best": best_record, "kept": kept}
    index.update(extra or {})
    write_json(directory / INDEX, index)
    wanted = {r["file"] for r in kept} | ({best_record["file"]} if best_record else set())
    for path in (directory / FOLDER).glob("step-*.eqx"):
        if f"{FOLDER}/{path.name}" not in wanted:
            path.unlink(missing_ok=True)


def load_checkpoint(
    directory: pathlib.Path, like: Any, *, which: str = "latest"
) -> tuple[Any, int]:
    """Load the `which` (`"latest"` or `"best"`) checkpoint of a run into a pytree shaped
    like `like`, after checking its checksum and its step; return it and its step."""
    directory = pathlib.Path(directory)
    index = read_index(directory)
    record = index.get(which)
    if record is None:
        raise CheckpointError(f"{str(directory)!r} has no {which} checkpoint")
    path = directory / record["file"]
    if not path.exists():
        raise CheckpointError(f"{str(path)!r} is missing ({INDEX} names it)")
    if _sha256(path) != record["sha256"]:
        raise CheckpointError(
            f"{str(path)!r} does not match its checksum in {INDEX}: the file was changed or "
            "is damaged"
        )
    try:
        state = eqx.tree_deserialise_leaves(path, like)
    except Exception as error:  # noqa: BLE001 - any failure means an unusable file
        raise CheckpointError(
            f"{str(path)!r} is corrupt or from another model ({type(error).__name__})"
        ) from None
    step = getattr(state, "step", None)
    if step is not None and int(step) != int(record["step"]):
        raise CheckpointError(
            f"{str(path)!r} holds the state of step {int(step)}, but {INDEX} says step "
            f"{record['step']}"
        )
    return state, int(record["step"])

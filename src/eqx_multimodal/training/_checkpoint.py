"""Checkpoints written atomically: a crash leaves the previous checkpoint intact."""

import json
import os
import pathlib
import tempfile
from typing import Any

import equinox as eqx


CHECKPOINT = "checkpoint.eqx"
INFO = "checkpoint.json"
CONFIG = "config.json"
FORMAT = 1


class CheckpointError(Exception):
    """A checkpoint folder that is missing, incomplete or unreadable."""


def write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(directory: pathlib.Path, state: Any, step: int) -> None:
    """Save a pytree (model, optimiser state, ...) and the step it was taken at."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{CHECKPOINT}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            eqx.tree_serialise_leaves(f, state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / CHECKPOINT)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    # The info file is written last: a checkpoint is complete when both agree.
    info = {"format": FORMAT, "step": int(step)}
    write_atomic(directory / INFO, json.dumps(info).encode())


def read_info(directory: pathlib.Path) -> dict[str, Any]:
    info_path = directory / INFO
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint folder {str(directory)!r} does not exist")
    if not info_path.exists() or not (directory / CHECKPOINT).exists():
        raise CheckpointError(
            f"{str(directory)!r} holds no checkpoint ({CHECKPOINT} and {INFO} expected)"
        )
    try:
        info = json.loads(info_path.read_text())
        step = int(info["step"])
        if info.get("format") != FORMAT or step < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{str(info_path)!r} is corrupt") from None
    return info


def load_checkpoint(directory: pathlib.Path, like: Any) -> tuple[Any, int]:
    """Load a checkpoint into a pytree shaped like `like`; return it and its step."""
    info = read_info(directory)
    try:
        state = eqx.tree_deserialise_leaves(directory / CHECKPOINT, like)
    except Exception as error:  # noqa: BLE001 - any failure means an unusable file
        raise CheckpointError(
            f"{str(directory / CHECKPOINT)!r} is corrupt or from another model "
            f"({type(error).__name__})"
        ) from None
    return state, int(info["step"])

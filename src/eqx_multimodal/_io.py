"""Files written so that a crash never leaves half of one, and JSON that is always JSON.

Every result file of the package goes through `write_atomic`: the bytes go to a hidden
temporary file beside the target, which is flushed, synced and renamed over it, so a
reader sees the old file or the new one, never a torn one. The file gets the
permissions of any file the user writes (the umask's), not `mkstemp`'s private 0600.
"""

import json
import math
import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO


def umask() -> int:
    """The process's file-mode creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes | Callable[[BinaryIO], Any]) -> None:
    """Write `data` (bytes, or a function that writes into a binary file) to `path`
    through a temporary file in the same folder and a rename."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def strict(value: Any) -> Any:
    """`value` with every non-finite float replaced by `None` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON: non-finite numbers become `null` (see `strict`)."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """`value` as indented, strict JSON, written atomically."""
    write_atomic(path, (dumps(value, indent=2) + "\n").encode())


def read_json_lines(path: str | os.PathLike) -> list[Any]:
    """The JSON values of a JSON-lines file, one a line.

    A torn last line (a crash of a writer that was not atomic) is dropped; a bad line
    before the last raises a ValueError that names the file and the line.
    """
    path = pathlib.Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):
                break
            raise ValueError(f"{path}: line {number} is not JSON ({error})") from None
    return rows

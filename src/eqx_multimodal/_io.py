"""Files written so that a crash never leaves half of one, and JSON that is always JSON.

Every result file of the package goes through `write_atomic`: the bytes go to a hidden
temporary file beside the target, which is flushed, synced and renamed over it, so a
reader sees the old file or the new one, never a torn one. The file gets the
permissions of any file the user writes (the umask's), not `mkstemp`'s private 0600.
"""

import contextlib
import errno
import json
import math
import os
import pathlib
import tempfile
import time
from collections.abc import Callable, Iterator
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
    except BaseException as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        full = no_space(error)
        if full is not None:
            raise OSError(full.errno, f"no space left on {path.parent}") from None
        raise


def no_space(error: BaseException) -> OSError | None:
    """The 'disk full' (or 'quota exceeded') error behind `error`, if any; a library
    that wraps it (Equinox's serialisation does) hides it in the chain."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


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


# --- strict JSON input ----------------------------------------------------------------

#: How deep arrays and objects may nest in a file the package reads (its own files nest
#: four deep; a deeper one is damaged or hostile, and would exhaust Python's stack).
MAX_DEPTH = 32


class _Flag(Exception):
    """Raised inside the fast parse at the first thing strict JSON does not allow."""


class _Problem(Exception):
    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index, self.message = index, message


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Flag
    return out


def _constant(name: str) -> Any:
    raise _Flag


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise _Flag
    return value


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _locate(text: str) -> tuple[int, str]:
    """Where (an index into `text`) and what the first value strict JSON refuses is: a
    NaN or infinity, or an object that repeats a key. Python's pure scanner, which
    passes each value's position along, is slow; it runs only once the fast parse failed."""
    import json.decoder
    import json.scanner

    def checked(scan: Callable) -> Callable:
        def scan_once(string: str, index: int) -> Any:
            for name in ("NaN", "Infinity", "-Infinity"):
                if string.startswith(name, index):
                    raise _Problem(index, f"{name} is not a JSON number (strict JSON)")
            value, end = scan(string, index)
            if isinstance(value, float) and not math.isfinite(value):
                raise _Problem(index, f"{string[index:end]} is too large for a number")
            return value, end

        return scan_once

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        pairs, end = json.decoder.JSONObject(  # pyright: ignore[reportAttributeAccessIssue]
            s_and_end, strict, checked(scan_once), None, list, memo
        )
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Problem(s_and_end[1] - 1, f"an object repeats the key {key!r}")
            seen.add(key)
        return dict(pairs), end

    def parse_array(s_and_end, scan_once):
        return json.decoder.JSONArray(  # pyright: ignore[reportAttributeAccessIssue]
            s_and_end, checked(scan_once)
        )

    decoder = json.JSONDecoder()
    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.parse_array = parse_array  # type: ignore[assignment]
    decoder.memo = {}  # type: ignore[attr-defined]
    start = len(text) - len(text.lstrip())
    try:
        scanner = json.scanner.py_make_scanner  # pyright: ignore[reportAttributeAccessIssue]
        checked(scanner(decoder))(text, start)
    except _Problem as problem:
        return problem.index, problem.message
    except (StopIteration, ValueError, RecursionError):  # pragma: no cover - fast parse agreed
        pass
    return 0, "strict JSON refuses it"  # pragma: no cover


def _too_deep(text: str) -> int | None:
    """The index where `text` nests deeper than `MAX_DEPTH`, if it does (strings skipped)."""
    import re

    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None


def _depth(value: Any) -> int:
    """How deep `value` nests (iteratively: a deep value must not exhaust the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((v, depth + 1) for v in value)
    return deepest


_KINDS = {dict: "a JSON object", list: "a JSON array", str: "a string"}


def _kind(value: Any) -> str:
    for kind, name in _KINDS.items():
        if isinstance(value, kind):
            return name
    return "null" if value is None else f"the {type(value).__name__} {value!r:.20}"


def loads(text: str, where: str, *, line: int | None = None, expect: type | None = dict) -> Any:
    """`text` as strict JSON, or a one-line ValueError that names `where` and the line.

    Strict: no NaN or Infinity, no object that repeats a key, nothing nested deeper than
    `MAX_DEPTH`, and (with `expect`, default `dict`) a value of that type at the top.
    `line`: the line of a JSON-lines file that `text` is; errors then read
    `"{where} line {line}: not JSON (...)"`, and for a whole file
    `"{where}: cannot read it as JSON (line L: ...)"`.
    """

    def fail(index: int | None, problem: str) -> ValueError:
        if line is not None:
            return ValueError(f"{where} line {line}: not JSON ({problem})")
        at = "" if index is None else f"line {_line(text, index)}: "
        return ValueError(f"{where}: cannot read it as JSON ({at}{problem})")

    try:
        value = json.loads(
            text, object_pairs_hook=_unique, parse_constant=_constant, parse_float=_float
        )
    except _Flag:
        raise fail(*_locate(text)) from None
    except json.JSONDecodeError as error:
        raise fail(error.pos, f"{error.msg} at column {error.colno}") from None
    except RecursionError:
        value = None
        deep = _too_deep(text)
        raise fail(deep, f"nested more than {MAX_DEPTH} deep") from None
    if _depth(value) > MAX_DEPTH:
        raise fail(_too_deep(text), f"nested more than {MAX_DEPTH} deep")
    if expect is not None and not isinstance(value, expect):
        raise fail(None, f"expected {_KINDS.get(expect, expect.__name__)}, got {_kind(value)}")
    return value


def read_text(path: str | os.PathLike, where: str | None = None) -> str:
    """The UTF-8 text of a file, or a one-line ValueError naming it (a link loop, a
    folder, bytes that are not UTF-8, ...)."""
    path = pathlib.Path(path)
    where = str(path) if where is None else where
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{where}: cannot read it as UTF-8 text ({error.reason})") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"{where}: cannot read it ({reason})") from None


def read_json(
    path: str | os.PathLike, where: str | None = None, *, expect: type | None = dict
) -> Any:
    """The strict JSON value of a file (see `loads`); `where` names it in errors
    (default its path)."""
    path = pathlib.Path(path)
    where = str(path) if where is None else where
    return loads(read_text(path, where), where, expect=expect)


def json_lines(
    path: str | os.PathLike,
    where: str | None = None,
    *,
    torn: bool = False,
    expect: type | None = dict,
) -> list[tuple[int, Any]]:
    """The `(line number, value)` of each non-blank line of a JSON-lines file, each line
    strict JSON (see `loads`). `torn`: drop a last line that is not JSON (a crash of a
    writer mid-line) instead of refusing it."""
    path = pathlib.Path(path)
    where = str(path) if where is None else where
    lines = read_text(path, where).splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, loads(line, where, line=number, expect=expect)))
        except ValueError:
            if torn and number == len(lines):
                break
            raise
    return rows


def read_json_lines(path: str | os.PathLike) -> list[Any]:
    """The JSON values of a JSON-lines file (strict, one object a line).

    A torn last line (a crash of a writer that was not atomic) is dropped; a bad line
    before the last raises a ValueError that names the file and the line.
    """
    path = pathlib.Path(path)
    return [value for _, value in json_lines(path, path.name, torn=True)]


# --- one writer a folder ----------------------------------------------------------------

#: The lock file of a folder being written (see `hold_folder`).
LOCK = ".eqx-multimodal.lock"
#: A lock file still empty after this many seconds belongs to a writer that died while
#: taking it.
_EMPTY_LOCK_SECONDS = 30.0
_HELD: dict[str, int] = {}


class FolderInUse(ValueError):
    """Another process is writing the folder (its lock names the process and host)."""


def _holder(lock: pathlib.Path) -> dict[str, Any] | None:
    """What a lock file says of its holder, `{}` while it is being written, None when
    it is gone."""
    try:
        text = lock.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a pid no kernel has): not ours to judge
    return True


def _stale(lock: pathlib.Path, holder: dict[str, Any]) -> bool:
    """Whether the holder is a dead process of this host (or a lock left half-written)."""
    import socket

    pid = holder.get("pid")
    if not holder:
        try:
            return time.time() - lock.stat().st_mtime > _EMPTY_LOCK_SECONDS
        except OSError:
            return True
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    # Our own pid on a lock this process does not hold: a dead process's, whose pid this
    # one reuses (containers start at pid 1 each time).
    return pid == os.getpid() or not _alive(pid)


def _acquire(folder: pathlib.Path) -> None:
    import socket

    lock = folder / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            holder = _holder(lock)
            if holder is None:
                continue  # released meanwhile
            if _stale(lock, holder):
                # Move the stale lock aside; only one process can (the rename is atomic).
                aside = lock.with_name(f"{LOCK}.stale.{os.getpid()}")
                try:
                    os.replace(lock, aside)
                except FileNotFoundError:
                    continue
                if _holder(aside) != holder and not lock.exists():  # a live one: put it back
                    os.replace(aside, lock)
                else:
                    aside.unlink(missing_ok=True)
                continue
            since = holder.get("since")
            when = (
                time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since))
                if isinstance(since, int | float)
                else ""
            )
            who = (
                f"process {holder.get('pid')} on host {holder.get('host')}{when}"
                if holder
                else "a process that is starting"
            )
            raise FolderInUse(
                f"{str(folder)!r} is being written by {who}; wait for it to finish or choose "
                f"another folder (if that process is gone, remove {str(lock)!r})"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(me) + "\n")
        return
    raise FolderInUse(f"{str(folder)!r}: cannot take its lock {str(lock)!r}; try again")


@contextlib.contextmanager
def hold_folder(folder: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Be the folder's only writer while inside the block.

    The lock is a file, `LOCK`, created atomically (`O_CREAT | O_EXCL`) and holding this
    process's pid and host; a second writer gets a one-line `FolderInUse` naming them. A
    lock left by a dead process of this host is taken over; one of another host is
    refused (its process cannot be checked from here). Re-entrant within a process. The
    folder is made if needed, and removed again if the block leaves it empty.
    """
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file, not a folder")
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    _acquire(folder)
    _HELD[key] = 1
    try:
        yield folder
    finally:
        del _HELD[key]
        lock = folder / LOCK
        if (_holder(lock) or {}).get("pid") == os.getpid():
            lock.unlink(missing_ok=True)
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty

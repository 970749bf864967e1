"""Reading one file of a paired folder: JSON lines, image headers, crops and resampling."""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._io import json_lines
from ._codecs import open_image
from ._limits import check_token_row
from ._manifest import check_id, inside, MANIFEST


_MODE_CHANNELS = {"1": 1, "L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 3}
_CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def read_lines(folder: Path, file_name: str, key: str) -> dict[str, Any] | None:
    """A JSON-lines file of a folder (`text.jsonl`) as `{id: tokens}` or `{id: caption}`
    (one kind a file), or None when the folder has none. A line is `{"id": ...,
    "tokens": [...]}`, or `{"id": ..., KEY: "..."}` for a caption (`key` the modality's
    name: `"text"` in `text.jsonl`)."""
    path = folder / file_name
    if not os.path.lexists(path):
        return None
    inside(folder, file_name, file_name)
    entries: dict[str, Any] = {}
    kind = length = None
    for number, entry in json_lines(path, file_name, expect=None):
        where = f"{file_name} line {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError(
                f'{where}: expected {{"id": "...", "tokens": [...]}} or {{"id": "...", '
                f'"{key}": "..."}}, got {json.dumps(entry)[:60]}'
            )
        check_id(entry["id"], where)
        if key in entry and "tokens" in entry:
            raise ValueError(f"{where}: has both {key!r} and 'tokens'; a line has one")
        this = key if key in entry else "tokens"
        if kind is None:
            kind = this
        elif this != kind:
            raise ValueError(f"{where}: has {this!r}, but the lines before have {kind!r}")
        value = entry.get(this)
        if this == key:
            if not isinstance(value, str):
                raise ValueError(f"{where}: {key!r} must be a string, got {value!r:.40}")
        else:
            value = check_token_row(value, where)
            if length is None:
                length = len(value)
            elif len(value) != length:
                raise ValueError(
                    f"{where}: {len(value)} tokens, but the lines before have {length}"
                )
        if entry["id"] in entries:
            raise ValueError(f"{where}: repeats the id {entry['id']!r}")
        entries[entry["id"]] = value
    return entries


def _image_header(path: Path, name: str) -> tuple[int, int, int]:
    """`(height, width, channels)` of an image file, from its header; the whole file is
    checked (a truncated file fails here, whichever split its sample falls in)."""
    with open_image(path, name, verify=True) as image:
        width, height = image.size
        mode = image.mode
        if mode == "P" and "transparency" in image.info:
            mode = "RGBA"
    if mode not in _MODE_CHANNELS:
        raise ValueError(f"{name}: image mode {mode!r} is not supported; save it as 8-bit L or RGB")
    return height, width, _MODE_CHANNELS[mode]


def _expected(argument: Any, name: str, manifest: dict) -> tuple[Any, str]:
    """What every file must have, and who says so: the caller's argument, the manifest,
    or (None) the first file."""
    if argument is not None:
        return argument, f"`{name}`"
    if name in manifest:
        value = manifest[name]
        return (tuple(value) if isinstance(value, list) else value), MANIFEST
    return None, ""


def _shape_text(shape: tuple[int, ...]) -> str:
    return "{}x{} with {} channel(s)".format(*shape)


def _crop(values: np.ndarray, length: int, rng: np.random.Generator | None) -> np.ndarray:
    """`values` cut to `length` (the centre, or a random window with `rng`), or padded
    with zeros after it."""
    if len(values) >= length:
        extra = len(values) - length
        start = extra // 2 if rng is None else int(rng.integers(0, extra + 1))
        return values[start : start + length]
    return np.pad(values, (0, length - len(values)))


def _resample(values: np.ndarray, rate: int, target: int, name: str) -> np.ndarray:
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise ImportError(
            f"{name}: resampling {rate} Hz to {target} Hz needs SciPy: pip install "
            '"eqx-multimodal[files]"'
        ) from None
    divisor = np.gcd(rate, target)
    return resample_poly(values, target // divisor, rate // divisor).astype(np.float32)

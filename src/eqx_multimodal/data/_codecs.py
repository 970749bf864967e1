"""Reading and writing the files of a paired folder: PNG (any image Pillow reads),
PCM WAV, and JSON lines. Every reader names the file it fails on."""

import contextlib
import json
import os
import struct
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ._limits import check_pixels, MAX_PIXELS


PILLOW_HINT = 'Pillow is needed to read and write images: pip install "eqx-multimodal[files]"'

# Image values are written as round(x * 255) and audio as round(x * 32767), and read back
# by dividing by the same scale, so a round trip is exact up to half a quantisation step.
IMAGE_SCALE = 255
PCM_BYTES = 2
PCM_SCALE = 2 ** (8 * PCM_BYTES - 1) - 1


def pillow_image() -> Any:
    """`PIL.Image`, or an ImportError that says how to install Pillow."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(PILLOW_HINT) from error
    return Image


@contextlib.contextmanager
def open_image(path: Path, name: str, *, verify: bool = False) -> Iterator[Any]:
    """`PIL.Image.open(path)`, guarded: a header that claims too many pixels (a
    decompression bomb), an animated image, or a file Pillow cannot read is a one-line
    ValueError naming the file (`name`). `verify`: also check the whole file (a PNG's
    every chunk and checksum; other formats are decoded), without keeping the pixels;
    the image yielded is then the header's only."""
    Image = pillow_image()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            width, height = image.size
            check_pixels(width, height, name)
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                raise ValueError(
                    f"{name}: an animated image ({frames} frames); save the frame to use "
                    "as a still image"
                )
            if verify:
                with Image.open(path) as whole:
                    if whole.format == "PNG":
                        whole.verify()
                    else:
                        whole.load()
            yield image
    except Image.DecompressionBombError as error:
        raise ValueError(
            f"{name}: more pixels than the {MAX_PIXELS:,} an image may have ({error})"
        ) from None
    except (OSError, SyntaxError, EOFError, struct.error) as error:
        raise ValueError(f"{name}: cannot read it as an image ({error})") from None
    except ValueError as error:
        if str(error).startswith(name):
            raise
        raise ValueError(f"{name}: cannot read it as an image ({error})") from None


def read_image(path: Path, name: str) -> np.ndarray:
    """The pixels of an image file as uint8 `(height, width, channels)`; `name` is how
    errors refer to the file."""
    with open_image(path, name) as image:
        try:
            image.load()
            if image.mode == "1":
                image = image.convert("L")
            elif image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            mode = image.mode
            pixels = np.asarray(image)
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ValueError(f"{name}: cannot read it as an image ({error})") from None
    if mode not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"{name}: image mode {mode!r} is not supported; save it as 8-bit L or RGB")
    return pixels[..., None] if pixels.ndim == 2 else pixels


def write_image(path: Path, pixels: np.ndarray) -> None:
    """Save uint8 `(height, width, channels)` pixels (1 to 4 channels) as a PNG."""
    Image = pillow_image()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path, format="PNG")


def quantise_image(images: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as uint8 pixels, rounded to the nearest of the 256 levels."""
    return np.rint(np.clip(np.asarray(images, np.float64), 0.0, 1.0) * IMAGE_SCALE).astype(np.uint8)


def wave_header(path: Path, name: str) -> tuple[int, int, int]:
    """`(channels, sample rate, frames)` of a WAV file, from its header; a file without
    a frame, or shorter than its header claims (the last frame is read), is refused."""
    try:
        with wave.open(str(path), "rb") as f:
            channels, rate, frames = f.getnchannels(), f.getframerate(), f.getnframes()
            if frames == 0:
                raise ValueError(f"{name}: holds no audio (0 frames)")
            if rate <= 0:
                raise ValueError(f"{name}: sample rate {rate} Hz in its header")
            f.setpos(frames - 1)
            last = f.readframes(1)
            if len(last) != f.getsampwidth() * channels:
                raise ValueError(
                    f"{name}: truncated (its header says {frames} frames; the file ends before)"
                )
            return channels, rate, frames
    except (OSError, EOFError, wave.Error, struct.error) as error:
        raise ValueError(
            f"{name}: cannot read it as a PCM WAV file ({str(error) or type(error).__name__})"
        ) from None


def read_wave(path: Path, name: str) -> tuple[np.ndarray, int]:
    """The samples of a mono PCM WAV file as float32 in [-1, 1], and its rate in Hz."""
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            frames = f.getnframes()
            raw = f.readframes(frames)
    except (OSError, EOFError, wave.Error, struct.error) as error:
        raise ValueError(
            f"{name}: cannot read it as a PCM WAV file ({str(error) or type(error).__name__})"
        ) from None
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


def quantise_audio(audio: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] as 16-bit PCM, rounded to the nearest level."""
    clipped = np.clip(np.asarray(audio, np.float64), -1.0, 1.0)
    return np.rint(clipped * PCM_SCALE).astype("<i2")


def write_wave(path: Path, pcm: np.ndarray, sample_rate: int) -> None:
    """Save 16-bit samples as a mono PCM WAV file."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(PCM_BYTES)
        f.setframerate(sample_rate)
        f.writeframes(np.asarray(pcm, "<i2").tobytes())


def text_line(sample_id: str, tokens: list[int]) -> str:
    """One line of `text.jsonl`."""
    return json.dumps({"id": sample_id, "tokens": tokens}) + "\n"


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

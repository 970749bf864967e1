"""Spoken digits: a small, real, three-modality paired folder, built offline.

Each sample is one of the 1,797 handwritten digits that scikit-learn ships
(`sklearn.datasets.load_digits`: 8x8 pixels, 17 grey levels), resized with Pillow; the
digit's spoken name ("zero" ... "nine") rendered by the `espeak-ng` speech synthesiser in
a voice, speaking rate and pitch drawn for the sample; and a caption from a few
templates ("seven", "7", "the number seven", "a handwritten 7", ...). Pairing is by
class: the three modalities of a sample show the same digit, nothing more, and the
sample's label is the digit ("7"). Every draw comes from a generator seeded by
`(seed, source index)`, so a sample does not depend on `num_samples` or on which other
samples are built: a small copy is a subset of the full one (same ids, same files).

It is a mini version of the Multimodal Handwritten Digits benchmark, in the
paired-folder format (captions as strings, labels in the manifest). Needs scikit-learn,
SciPy and Pillow (`pip install "eqx-multimodal[digits]"`) and the `espeak-ng` program
(`apt-get install espeak-ng`).
"""

import concurrent.futures
import io
import math
import os
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int, check_real, check_seed
from ._writer import PairedFolderWriter


NUM_IMAGES = 1797
#: The largest image side and WAV rate `build_spoken_digits` makes: larger ones only
#: upsample the 8x8 source and the 22050 Hz speech (and, far larger, exhaust memory
#: before anything is written).
MAX_IMAGE_SIZE = 512
MAX_SAMPLE_RATE = 192_000
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
LABELS = tuple(str(d) for d in range(10))
# Captions: `{w}` is the word, `{d}` the numeral. The bare numeral is one of them, so the
# label names ("7") that zero-shot classification embeds as texts are captions seen in
# training (without it, zero-shot accuracy on images fell from 0.99 to 0.91-0.96).
TEMPLATES = (
    "{d}",
    "{w}",
    "the number {w}",
    "the number {d}",
    "the digit {w}",
    "a handwritten {w}",
    "a handwritten {d}",
    "a spoken {w}",
    "someone says {w}",
    "{w} ({d})",
)
# espeak-ng's own English voices (no mbrola needed) and its voice variants (timbre, sex).
VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+f1", "+f2", "+f3", "+f4", "+klatt")
RATES = (130, 220)  # words a minute, both ends included (espeak-ng's default is 175)
PITCHES = (25, 75)  # 0-99 (default 50)
SPEECH_RATE = 22050  # espeak-ng's output rate

ESPEAK_HINT = (
    "spoken digits need the espeak-ng speech synthesiser: apt-get install espeak-ng "
    "(Debian/Ubuntu) or brew install espeak-ng (macOS)"
)
EXTRA_HINT = (
    'spoken digits need scikit-learn, SciPy and Pillow: pip install "eqx-multimodal[digits]"'
)


def _espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise FileNotFoundError(ESPEAK_HINT)
    return path


def check_digits_requirements() -> None:
    """Raise a one-line error that says how to install what spoken digits need (the
    espeak-ng program; scikit-learn, SciPy and Pillow), if anything is missing."""
    _espeak()
    try:
        import PIL  # noqa: F401
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as error:
        raise ImportError(EXTRA_HINT) from error


def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(EXTRA_HINT) from error
    digits: Any = load_digits()
    return digits.images, digits.target


def _draw(seed: int, index: int) -> dict[str, Any]:
    """The sample's random choices, from a generator of `(seed, index)` alone."""
    rng = np.random.default_rng([seed, index])
    return {
        "template": int(rng.integers(len(TEMPLATES))),
        "voice": VOICES[rng.integers(len(VOICES))] + VARIANTS[rng.integers(len(VARIANTS))],
        "rate": int(rng.integers(RATES[0], RATES[1] + 1)),
        "pitch": int(rng.integers(PITCHES[0], PITCHES[1] + 1)),
        "gain": float(np.round(rng.uniform(0.3, 0.9), 3)),  # the clip's peak level
        "start": float(rng.uniform()),  # where the speech starts, in the clip's slack
    }


def _speak(espeak: str, word: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """One utterance from espeak-ng, float64 in [-1, 1] at `SPEECH_RATE`."""
    command = [espeak, "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", word]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode(errors="replace").strip() or "no output"
        raise RuntimeError(f"espeak-ng failed for {word!r} in voice {voice!r}: {message}")
    with wave.open(io.BytesIO(result.stdout)) as f:
        if (f.getnchannels(), f.getsampwidth(), f.getframerate()) != (1, 2, SPEECH_RATE):
            raise RuntimeError(
                f"espeak-ng wrote {f.getnchannels()} channel(s), {8 * f.getsampwidth()} bit, "
                f"{f.getframerate()} Hz; expected mono 16-bit {SPEECH_RATE} Hz"
            )
        # The header of --stdout has no true frame count: read whatever is there.
        raw = f.readframes(2**31 - 1)
    return np.frombuffer(raw, "<i2").astype(np.float64) / 32767


def _clip(
    speech: np.ndarray, sample_rate: int, length: int, gain: float, start: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Resample, trim the silence, scale to a `gain` peak, and place in `length` samples."""
    if sample_rate != SPEECH_RATE:
        from scipy.signal import resample_poly

        common = math.gcd(sample_rate, SPEECH_RATE)
        speech = resample_poly(speech, sample_rate // common, SPEECH_RATE // common)
    loud = np.flatnonzero(np.abs(speech) > 0.01 * np.max(np.abs(speech)))
    speech = speech[loud[0] : loud[-1] + 1]
    speech = speech * (gain / np.max(np.abs(speech)))
    info: dict[str, Any] = {"speech_s": round(len(speech) / sample_rate, 4)}
    if len(speech) > length:
        info["cropped"] = True
    speech = speech[:length]
    offset = int(start * (length - len(speech)))
    out = np.zeros(length, np.float32)
    out[offset : offset + len(speech)] = speech
    info["offset_s"] = round(offset / sample_rate, 6)
    return out, info


def _image(pixels: np.ndarray, size: int) -> np.ndarray:
    """An 8x8 digit (0-16) as `(size, size, 1)` values in [0, 1] (Pillow, bicubic)."""
    from PIL import Image

    grey = Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8), mode="L")
    resized = np.asarray(grey.resize((size, size), Image.Resampling.BICUBIC))
    return (resized.astype(np.float64) / 255)[..., None]


def build_spoken_digits(
    out: str | os.PathLike,
    *,
    num_samples: int | None = None,
    seed: int = 0,
    image_size: int = 16,
    sample_rate: int = 16000,
    duration: float = 1.0,
    workers: int | None = None,
) -> Path:
    """Build the spoken-digits paired folder at `out`.

    **Arguments:**

    - `out`: a folder that does not exist yet (or is empty). It is written under a
        hidden name and renamed into place when complete.
    - `num_samples`: keyword only. How many of the 1,797 digit images to use (a seeded
        choice); default all. A smaller copy is a subset of the full one.
    - `seed`: keyword only. Seeds every choice (subset, voice, rate, pitch, level, place
        in the clip, caption), so a folder is reproducible byte for byte.
    - `image_size`: keyword only. The images' side in pixels (grey). 16 is enough: the
        source is 8x8. At most 512.
    - `sample_rate`: keyword only. The WAV files' rate in Hz (espeak-ng speaks at
        22050 Hz; other rates are resampled with `scipy.signal.resample_poly`), 8000 to
        192000.
    - `duration`: keyword only. Every clip's length in seconds: the utterance, trimmed
        of silence (0.2-0.8 s), is placed at a random offset in it.
    - `workers`: keyword only. Threads running espeak-ng (default: the CPU count).

    **Returns:**

    The folder's path.
    """
    num_samples = NUM_IMAGES if num_samples is None else num_samples
    check_int(num_samples, "num_samples", maximum=NUM_IMAGES)
    check_seed(seed)
    check_int(image_size, "image_size", minimum=8, maximum=MAX_IMAGE_SIZE)
    check_int(sample_rate, "sample_rate", minimum=8000, maximum=MAX_SAMPLE_RATE)
    check_real(duration, "duration", low=0.0, low_open=True, high=60.0)
    espeak = _espeak()
    images, targets = _digits()
    if num_samples == NUM_IMAGES:
        indices = np.arange(NUM_IMAGES)
    else:
        order = np.random.default_rng([seed, 2**32 - 1]).permutation(NUM_IMAGES)
        indices = np.sort(order[:num_samples])
    length = round(duration * sample_rate)

    def sample(index: int) -> tuple[np.ndarray, np.ndarray, str, dict[str, Any]]:
        draw = _draw(seed, index)
        digit = int(targets[index])
        speech = _speak(espeak, WORDS[digit], draw["voice"], draw["rate"], draw["pitch"])
        audio, info = _clip(speech, sample_rate, length, draw["gain"], draw["start"])
        caption = TEMPLATES[draw["template"]].format(w=WORDS[digit], d=digit)
        source = {"digits_index": index, **{k: draw[k] for k in ("voice", "rate", "pitch", "gain")}}
        return _image(images[index], image_size), audio, caption, {"source": {**source, **info}}

    metadata = {
        "dataset": "spoken digits",
        "labels": list(LABELS),
        "source": "images: scikit-learn load_digits (UCI optical recognition of handwritten "
        f"digits, 8x8, resized bicubic); audio: espeak-ng {_espeak_version(espeak)}; text: "
        "caption templates",
        "build": {
            "seed": seed,
            "image_size": image_size,
            "sample_rate": sample_rate,
            "duration": duration,
            "templates": list(TEMPLATES),
        },
    }
    writer = PairedFolderWriter(
        out, modalities=("image", "text", "audio"), sample_rate=sample_rate, metadata=metadata
    )
    with writer, concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        for start in range(0, len(indices), 256):
            chunk = [int(i) for i in indices[start : start + 256]]
            made = list(pool.map(sample, chunk))
            writer.write(
                {
                    "image": np.stack([m[0] for m in made]),
                    "audio": np.stack([m[1] for m in made]),
                    "text": np.asarray([m[2] for m in made]),
                },
                labels=[LABELS[int(targets[i])] for i in chunk],
                extra=[m[3] for m in made],
                ids=[f"{i:06d}" for i in chunk],
            )
    return Path(out)


def _espeak_version(espeak: str) -> str:
    result = subprocess.run([espeak, "--version"], capture_output=True, text=True, check=False)
    words = result.stdout.split()
    return words[words.index("text-to-speech:") + 1] if "text-to-speech:" in words else "?"

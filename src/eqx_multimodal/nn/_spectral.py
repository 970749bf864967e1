"""Spectral front ends computed in JAX: framing, STFT magnitude, mel filter banks."""

import functools
import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._types import Waveform


def num_frames(num_samples: int, n_fft: int, hop_length: int) -> int:
    """Frames of a centred STFT (the signal padded by `n_fft // 2` on both sides)."""
    return 1 + (num_samples + 2 * (n_fft // 2) - n_fft) // hop_length


@functools.cache
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft_magnitude(wave: Waveform, *, n_fft: int, hop_length: int) -> Float[Array, "frames freqs"]:
    """The magnitude of the centred, Hann-windowed STFT.

    **Arguments:**

    - `wave`: a waveform of any length (zero-padded to at least one frame).
    - `n_fft`: keyword only. The frame length; `n_fft // 2 + 1` frequency bins.
    - `hop_length`: keyword only. The step between frames.

    **Returns:**

    `(frames, n_fft // 2 + 1)` magnitudes.
    """
    pad = n_fft // 2
    framed = frame(jnp.pad(wave, (pad, pad)), n_fft=n_fft, hop_length=hop_length)
    return jnp.abs(jnp.fft.rfft(framed * jnp.asarray(hann_window(n_fft))[None, :], axis=-1))


# Above this many slices (a hop under n_fft / 32) a frame is gathered instead.
_MAX_FRAME_SLICES = 32


def frame(
    signal: Float[Array, " samples"], *, n_fft: int, hop_length: int
) -> Float[Array, "frames n_fft"]:
    """Every full window of `n_fft` samples, `hop_length` apart (no padding).

    The signal is cut into rows of `hop_length` samples; frame `i` is rows `i` to
    `i + ceil(n_fft / hop_length) - 1` side by side, cut to `n_fft`. Static slices rather
    than a gather: about as fast on a CPU, and the constant folder of jax 0.5.3 gets a
    gather fused with the window wrong when the signal is a compile-time constant.
    """
    frames = 1 + (signal.shape[0] - n_fft) // hop_length
    width = -(-n_fft // hop_length)
    if width > _MAX_FRAME_SLICES:
        starts = hop_length * np.arange(frames)[:, None] + np.arange(n_fft)[None, :]
        return signal[starts]
    length = (frames - 1 + width) * hop_length
    signal = jnp.pad(signal[:length], (0, max(0, length - signal.shape[0])))
    rows = signal.reshape(-1, hop_length)
    return jnp.concatenate([rows[k : k + frames] for k in range(width)], axis=1)[:, :n_fft]


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.cache
def mel_filterbank(
    n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    """Triangular HTK mel filters, `(n_fft // 2 + 1, n_mels)`, as a NumPy constant."""
    f_max = sample_rate / 2 if f_max is None else float(f_max)
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs[:, None]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def log_spectrogram(
    wave: Waveform,
    *,
    n_fft: int,
    hop_length: int,
    n_mels: int | None,
    sample_rate: int,
) -> Float[Array, "frames bins"]:
    """`log(1e-3 + power)` of the STFT, through a mel filter bank when `n_mels` is set."""
    magnitude = stft_magnitude(wave, n_fft=n_fft, hop_length=hop_length)
    if n_mels is not None:
        magnitude = magnitude @ jnp.asarray(mel_filterbank(n_fft, n_mels, sample_rate))
    return jnp.log(1e-3 + magnitude)

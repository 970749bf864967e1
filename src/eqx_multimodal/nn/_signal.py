"""Signal processing in JAX, shared by the encoders, the losses and the figures:
framing, the STFT and its inverse (Griffin-Lim), and mel filter banks. The guide's
grating and spectral-peak fitters moved to `eqx_multimodal.guide.towers`."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .._types import Waveform
from .._validation import check_int, check_real


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


def stft(wave: Waveform, *, n_fft: int, hop_length: int) -> Complex[Array, "frames freqs"]:
    """The centred, Hann-windowed STFT (complex), the spectrum of `stft_magnitude`.

    **Arguments:**

    - `wave`: a waveform.
    - `n_fft`: keyword only. The frame length; `n_fft // 2 + 1` frequency bins.
    - `hop_length`: keyword only. The step between frames.

    **Returns:**

    `(frames, n_fft // 2 + 1)` complex values.
    """
    pad = n_fft // 2
    framed = frame(jnp.pad(wave, (pad, pad)), n_fft=n_fft, hop_length=hop_length)
    return jnp.fft.rfft(framed * jnp.asarray(hann_window(n_fft))[None, :], axis=-1)


@functools.cache
def _overlap_norm(frames: int, n_fft: int, hop_length: int) -> np.ndarray:
    """The overlap-added squared window (the denominator of the least-squares inverse)."""
    total = np.zeros((frames - 1) * hop_length + n_fft, np.float64)
    window = hann_window(n_fft).astype(np.float64) ** 2
    for i in range(frames):
        total[i * hop_length : i * hop_length + n_fft] += window
    return np.maximum(total, 1e-8).astype(np.float32)


def istft(
    spectrum: Complex[Array, "frames freqs"], *, n_fft: int, hop_length: int, length: int
) -> Float[Array, " length"]:
    """The inverse of `stft`: the waveform whose STFT is nearest `spectrum` (least-squares
    overlap-add of the windowed inverse transforms, Griffin and Lim 1984), cut to `length`.

    `istft(stft(x)) == x` wherever the windows overlap (a hop of at most `n_fft // 2`).

    ```python
    >>> import jax.numpy as jnp
    >>> x = jnp.sin(jnp.arange(1000.0) / 7.0)
    >>> y = istft(stft(x, n_fft=64, hop_length=16), n_fft=64, hop_length=16, length=1000)
    >>> bool(jnp.max(jnp.abs(x - y)) < 1e-5)
    True

    ```
    """
    check_int(n_fft, "n_fft", minimum=2)
    check_int(hop_length, "hop_length")
    check_int(length, "length")
    frames = spectrum.shape[0]
    window = jnp.asarray(hann_window(n_fft))
    pieces = jnp.fft.irfft(spectrum, n=n_fft, axis=-1) * window[None, :]
    total = (frames - 1) * hop_length + n_fft
    signal = _overlap_add(pieces, hop_length)[:total]
    signal = signal / jnp.asarray(_overlap_norm(frames, n_fft, hop_length))
    pad = n_fft // 2
    signal = signal[pad : pad + length]
    return jnp.pad(signal, (0, max(0, length - signal.shape[0])))


def _overlap_add(pieces: Float[Array, "frames n_fft"], hop_length: int) -> Float[Array, " total"]:
    """Frame `i` of `pieces` added in at sample `i * hop_length`: each frame cut into
    blocks of `hop_length` samples, block `k` of every frame shifted down `k` rows and
    the rows summed. Static slices rather than a scatter-add, which XLA's CPU backend
    runs several times slower (the inverse STFT inside Griffin-Lim's loop)."""
    frames, n_fft = pieces.shape
    width = -(-n_fft // hop_length)
    if width > _MAX_FRAME_SLICES:  # a small hop: many slices; a scatter-add instead
        starts = hop_length * np.arange(frames)[:, None] + np.arange(n_fft)[None, :]
        total = (frames - 1) * hop_length + n_fft
        return jnp.zeros(total, pieces.dtype).at[starts].add(pieces)
    blocks = jnp.pad(pieces, ((0, 0), (0, width * hop_length - n_fft)))
    blocks = blocks.reshape(frames, width, hop_length)
    rows = sum(jnp.pad(blocks[:, k], ((k, width - 1 - k), (0, 0))) for k in range(width))
    return jnp.reshape(rows, -1)


def griffin_lim(
    magnitude: Float[Array, "frames freqs"],
    *,
    n_fft: int,
    hop_length: int,
    length: int,
    iterations: int = 32,
    momentum: float = 0.99,
) -> Float[Array, " length"]:
    """A waveform whose STFT magnitude is `magnitude`: the fast Griffin-Lim algorithm
    (Perraudin, Balazs and Sondergaard 2013), a fixed number of iterations in a
    `jax.lax.fori_loop` (so it compiles into the caller), starting from zero phase.

    **Arguments:**

    - `magnitude`: `(frames, n_fft // 2 + 1)` non-negative STFT magnitudes.
    - `n_fft`, `hop_length`: keyword only. The STFT's (as for `stft`).
    - `length`: keyword only. The waveform's length.
    - `iterations`: keyword only. Projections onto consistent spectrograms.
    - `momentum`: keyword only. In [0, 1); 0 is the original Griffin-Lim.

    ```python
    >>> import jax.numpy as jnp
    >>> x = jnp.sin(2 * jnp.pi * 440 * jnp.arange(4000.0) / 8000)
    >>> magnitude = stft_magnitude(x, n_fft=256, hop_length=64)
    >>> y = griffin_lim(magnitude, n_fft=256, hop_length=64, length=4000)
    >>> error = stft_magnitude(y, n_fft=256, hop_length=64) - magnitude
    >>> bool(jnp.linalg.norm(error) < 0.15 * jnp.linalg.norm(magnitude))
    True

    ```
    """
    check_int(iterations, "iterations", minimum=0)
    if check_real(momentum, "momentum", low=0.0, high=1.0) == 1.0:
        raise ValueError("`momentum` must be in [0, 1), got 1.0")
    magnitude = magnitude.astype(jnp.float32)

    def project(spectrum):
        wave = istft(spectrum, n_fft=n_fft, hop_length=hop_length, length=length)
        rebuilt = stft(wave, n_fft=n_fft, hop_length=hop_length)
        phase = jnp.angle(rebuilt)
        return jax.lax.complex(magnitude * jnp.cos(phase), magnitude * jnp.sin(phase))

    def body(_, carry):
        spectrum, previous = carry
        projected = project(spectrum)
        return projected + momentum * (projected - previous), projected

    start = magnitude.astype(jnp.complex64)
    spectrum, _ = jax.lax.fori_loop(0, iterations, body, (start, start))
    return istft(spectrum, n_fft=n_fft, hop_length=hop_length, length=length)

"""Signal processing in JAX, shared by the encoders, the losses and the figures:
framing and the STFT, mel filter banks, and the two parameter-free front ends of the
guide-fitted towers.

- `fit_gratings` fits the amplitude and phase of each separable grating of an image by
  least squares, one grating at a time (coordinate descent), the phase on a grid. It is
  the joint fit that a linear fit on the grating products is not: amplitude and phase
  share one rank-one 2 x 2 block, 2 parameters instead of 4.
- `spectral_peaks` finds the strongest peaks of a clip's magnitude spectrum in a band,
  with their frequency (interpolated between bins), magnitude and phase.
"""

import functools
import math
from collections.abc import Sequence
from typing import Any

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


#: The guide's grating frequencies, `2 + k` rad per unit for k = 0..7.
GUIDE_FREQUENCIES = tuple(2.0 + k for k in range(8))


@functools.cache
def grating_products(height: int, width: int, frequencies: tuple[float, ...]) -> np.ndarray:
    """Per frequency, the 4 centred products `{cos, sin}(f y) x {sin, cos}(f x)` on
    `linspace(-1, 1)` (rows are y), `(K, 4, height * width)`, in float64
    (`_grating_products` holds them in float32 for the towers)."""
    y = np.linspace(-1.0, 1.0, height)
    x = np.linspace(-1.0, 1.0, width)
    products = []
    for f in frequencies:
        cy, sy, sx, cx = np.cos(f * y), np.sin(f * y), np.sin(f * x), np.cos(f * x)
        products.append(
            [np.outer(a, b).ravel() for a, b in ((cy, sx), (sy, sx), (cy, cx), (sy, cx))]
        )
    basis = np.asarray(products)
    return basis - basis.mean(axis=-1, keepdims=True)


@functools.cache
def _grating_products(
    height: int, width: int, frequencies: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """`grating_products` in float32, and the products' Gram matrices `(K, 4, 4)`."""
    basis = grating_products(height, width, frequencies)
    gram = np.einsum("kmi,kni->kmn", basis, basis)
    return basis.astype(np.float32), gram.astype(np.float32)


def product_weights(phi: Any, xp: Any = np) -> Any:
    """For each phase, the coefficients of `cos(f y + phi) sin(f x + phi)` on the 4
    products of `grating_products`, `(..., 4)`, computed with `xp` (NumPy or
    `jax.numpy`)."""
    c, s = xp.cos(phi), xp.sin(phi)
    # cos(fy + p) sin(fx + p) = c^2 cy sx - c s sy sx + s c cy cx - s^2 sy cx.
    return xp.stack([c * c, -c * s, s * c, -s * s], axis=-1)


@functools.cache
def _phase_weights(num_phases: int) -> tuple[np.ndarray, np.ndarray]:
    """The phases of the grid on [0, pi) and, for each, `product_weights`."""
    phi = np.pi * np.arange(num_phases) / num_phases
    return phi.astype(np.float32), product_weights(phi).astype(np.float32)


def check_frequencies(frequencies: Sequence[float]) -> tuple[float, ...]:
    """A non-empty tuple of positive frequencies."""
    frequencies = tuple(frequencies)
    if not frequencies:
        raise ValueError("`frequencies` must name at least one frequency, got ()")
    return tuple(check_real(f, "frequencies", low=0.0, low_open=True) for f in frequencies)


def fit_gratings(
    gray: Float[Array, "height width"],
    frequencies: Sequence[float] = GUIDE_FREQUENCIES,
    *,
    num_phases: int = 180,
    sweeps: int = 8,
) -> tuple[Float[Array, " K"], Float[Array, " K"]]:
    """Least-squares fit of `c + sum_k A_k cos(f_k y + phi_k) sin(f_k x + phi_k)`.

    The image spans `linspace(-1, 1)` in both directions (rows are y). Coordinate
    descent: each of `sweeps` sweeps refits every grating in turn, the others held fixed,
    with `phi_k` the best of `num_phases` phases on [0, pi) and `A_k` its least-squares
    amplitude. (A shift of `phi` by pi leaves the grating unchanged, so [0, pi) is all of
    it.) The offset `c` is removed by centring.

    **Arguments:**

    - `gray`: one image channel.
    - `frequencies`: rad per unit, one per grating.
    - `num_phases`, `sweeps`: keyword only.

    **Returns:**

    `(A, 2 phi)`: the amplitudes and the doubled phases in [0, 2 pi), which is the
    phase a grating's pattern determines.

    ```python
    >>> import jax.numpy as jnp
    >>> y = x = jnp.linspace(-1, 1, 32)
    >>> image = 0.7 * jnp.cos(3 * y + 1.0)[:, None] * jnp.sin(3 * x + 1.0)[None, :]
    >>> amplitude, phase = fit_gratings(image, (3.0,))
    >>> round(float(amplitude[0]), 2), round(float(phase[0]), 1)  # to the grid's pi / 90
    (0.7, 2.0)

    ```
    """
    if gray.ndim != 2:
        raise ValueError(f"`gray` must be one 2-D image channel, got shape {gray.shape}")
    frequencies = check_frequencies(frequencies)
    check_int(num_phases, "num_phases", minimum=2)
    check_int(sweeps, "sweeps")
    height, width = gray.shape
    basis, gram = _grating_products(height, width, frequencies)
    grid, weights = _phase_weights(num_phases)
    # The squared norm of the grating of each grid phase: (K, num_phases).
    norms = jnp.asarray(np.einsum("pm,kmn,pn->kp", weights, gram, weights))
    basis, weights = jnp.asarray(basis), jnp.asarray(weights)
    residual = (gray - jnp.mean(gray)).reshape(-1)
    num = len(frequencies)

    def refit(k, carry):
        amplitude, index, residual = carry
        residual = residual + amplitude[k] * (weights[index[k]] @ basis[k])
        projection = weights @ (basis[k] @ residual)  # <residual, grating(phi)>
        best = jnp.argmax(projection**2 / norms[k])
        amplitude = amplitude.at[k].set(projection[best] / norms[k, best])
        residual = residual - amplitude[k] * (weights[best] @ basis[k])
        return amplitude, index.at[k].set(best), residual

    def sweep(carry, _):
        return jax.lax.fori_loop(0, num, refit, carry), None

    init = (jnp.zeros(num, gray.dtype), jnp.zeros(num, jnp.int32), residual)
    (amplitude, index, _), _ = jax.lax.scan(sweep, init, None, length=sweeps)
    return amplitude, 2 * jnp.asarray(grid)[index]


def hann_peaks(
    audio: Waveform,
    num_peaks: int,
    *,
    sample_rate: float | int,
    f_min: float | int,
    f_max: float | int,
) -> tuple[Array, Array, Array, Array]:
    """The `num_peaks` largest local maxima of the Hann-windowed spectrum strictly inside
    `[f_min, f_max]`: `(spectrum, height, index, offset)`, the complex spectrum, each
    peak's magnitude and bin, and its signed offset from the bin in bins (from the
    larger neighbour: exact for one tone). Checks its arguments, naming them."""
    if audio.ndim != 1 or audio.shape[0] < 3:
        raise ValueError(f"`audio` must be one waveform of 3 samples or more, got {audio.shape}")
    check_int(num_peaks, "num_peaks")
    sample_rate = check_real(sample_rate, "sample_rate", low=0.0, low_open=True)
    f_min = check_real(f_min, "f_min", low=0.0)
    f_max = check_real(f_max, "f_max", low=f_min, low_open=True)
    n = audio.shape[0]
    spectrum = jnp.fft.rfft(audio * jnp.asarray(hann_window(n)))
    magnitude = jnp.abs(spectrum)
    hz = np.arange(magnitude.shape[0]) * sample_rate / n
    # The band's bins, interior only so that every peak has two neighbours.
    inside = np.flatnonzero((hz >= f_min) & (hz <= f_max))
    start = max(int(inside[0]) if inside.size else 1, 1)
    stop = min(int(inside[-1]) + 1 if inside.size else 1, magnitude.shape[0] - 1)
    if stop - start < num_peaks:
        raise ValueError(
            f"`num_peaks`={num_peaks} is more than the {max(stop - start, 0)} spectrum bins "
            f"strictly inside [{f_min}, {f_max}] Hz"
        )
    band = magnitude[start:stop]
    is_peak = (band > magnitude[start - 1 : stop - 1]) & (band >= magnitude[start + 1 : stop + 1])
    height, index = jax.lax.top_k(jnp.where(is_peak, band, 0.0), num_peaks)
    index = index + start
    # A Hann-windowed tone `d` bins above bin k has |X(k + 1)| / |X(k)| = (1 + d) / (2 - d),
    # so d = (2 r - 1) / (1 + r) from the larger neighbour's ratio r (exact for one tone).
    up, down = magnitude[index + 1], magnitude[index - 1]
    ratio = jnp.maximum(up, down) / (height + 1e-12)
    offset = jnp.where(up >= down, 1.0, -1.0) * jnp.clip((2 * ratio - 1) / (1 + ratio), 0.0, 0.5)
    return spectrum, height, index, offset


def spectral_peaks(
    audio: Float[Array, " samples"],
    num_peaks: int,
    *,
    sample_rate: float | int,
    f_min: float | int,
    f_max: float | int,
) -> tuple[Float[Array, " num_peaks"], Float[Array, " num_peaks"], Float[Array, " num_peaks"]]:
    """The `num_peaks` largest local maxima of the Hann-windowed magnitude spectrum
    within `[f_min, f_max]` Hz.

    **Returns:**

    `(frequency, magnitude, phase)`, largest first: the frequency (Hz), interpolated
    between bins from the ratio of the peak's larger neighbour to it; the magnitude of
    the peak bin; and the phase of `sin(2 pi f t + phase)` at the first sample. Peaks that do
    not exist (fewer local maxima than `num_peaks`) have magnitude 0.

    ```python
    >>> import jax.numpy as jnp
    >>> t = jnp.arange(4000) / 4000
    >>> tone = jnp.sin(2 * jnp.pi * 440.3 * t + 0.5)
    >>> f, m, p = spectral_peaks(tone, 1, sample_rate=4000, f_min=100, f_max=2000)
    >>> round(float(f[0]), 1), round(float(p[0]), 2)
    (440.3, 0.5)

    ```
    """
    spectrum, height, index, offset = hann_peaks(
        audio, num_peaks, sample_rate=sample_rate, f_min=f_min, f_max=f_max
    )
    n = audio.shape[0]
    frequency = (index.astype(offset.dtype) + offset) * (sample_rate / n)
    # A periodic Hann window is symmetric about sample n / 2, so a tone `offset` bins off
    # the bin turns its phase by `pi * offset` there; `sin` is `cos` delayed by pi / 2.
    phase = jnp.angle(spectrum[index]) - jnp.pi * offset + jnp.pi / 2
    return frequency, height, jnp.mod(phase, 2 * jnp.pi)


def harmonics(angle: Float[Array, " n"], count: int) -> Float[Array, "n features"]:
    """`cos(m angle), sin(m angle)` for `m = 1 .. count`: an angle as smooth features."""
    multiple = angle[:, None] * jnp.arange(1, count + 1, dtype=angle.dtype)[None, :]
    return jnp.concatenate([jnp.cos(multiple), jnp.sin(multiple)], axis=-1)


def relative_amplitudes(
    amplitude: Float[Array, " n"],
) -> tuple[Float[Array, " n"], Float[Array, "n 2"]]:
    """Amplitudes relative to their mean (the signals are normalised, so only ratios
    carry information), and the per-component features `(r, log r)`."""
    relative = amplitude / (jnp.mean(amplitude) + 1e-6)
    return relative, jnp.stack([relative, jnp.log(relative + 1e-3)], axis=-1)


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

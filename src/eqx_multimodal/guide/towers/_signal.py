"""The parameter-free front ends of the guide-fitted towers, in JAX.

- `fit_gratings` fits the amplitude and phase of each separable grating of an image by
  least squares, one grating at a time (coordinate descent), the phase on a grid. It is
  the joint fit that a linear fit on the grating products is not: amplitude and phase
  share one rank-one 2 x 2 block, 2 parameters instead of 4.
- `spectral_peaks` finds the strongest peaks of a clip's magnitude spectrum in a band,
  with their frequency (interpolated between bins), magnitude and phase.
"""

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..._types import Waveform
from ..._validation import check_int, check_real
from ...nn._signal import hann_window


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

"""Encoders that first fit the signal family, then learn: the default towers of the
shared-latent model.

The synthetic image is a sum of separable gratings `A_k cos(f_k y + phi_k) sin(f_k x + phi_k)`
at known frequencies, and the synthetic audio is a sum of stationary tones. A generic
front end (a Fourier transform, a convolution) sees both only through windows too short
to tell the 8 gratings apart (they are 1 rad per unit apart on an image 2 units wide), so
each tower here starts from a fixed, parameter-free estimate of the components, then
encodes the components with one shared MLP (a DeepSets layer) and pools them:

- `fit_gratings` fits the amplitude and phase of every grating by least squares,
  one grating at a time (coordinate descent), the phase on a grid. It is the joint fit
  that a linear fit on the grating products is not: amplitude and phase share one
  rank-one 2 x 2 block, 2 parameters instead of 4, which is what makes it well posed.
- `spectral_peaks` finds the strongest peaks of the magnitude spectrum in a band, with
  their frequency (interpolated between bins), magnitude and phase.

Neither front end has parameters or a gradient; what is learned is what the components
mean and how to compare them across modalities.
"""

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._types import Embedding, Image, Waveform
from .._validation import check_int, check_real, check_shape
from ._spectral import hann_window


#: The guide's grating frequencies, `2 + k` rad per unit for k = 0..7.
GUIDE_FREQUENCIES = tuple(2.0 + k for k in range(8))


@functools.cache
def _grating_products(
    height: int, width: int, frequencies: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per frequency, the 4 centred products `{cos, sin}(f y) x {sin, cos}(f x)` on
    `linspace(-1, 1)`, `(K, 4, height * width)`, and their Gram matrices `(K, 4, 4)`."""
    y = np.linspace(-1.0, 1.0, height)
    x = np.linspace(-1.0, 1.0, width)
    products = []
    for f in frequencies:
        cy, sy, sx, cx = np.cos(f * y), np.sin(f * y), np.sin(f * x), np.cos(f * x)
        products.append(
            [np.outer(a, b).ravel() for a, b in ((cy, sx), (sy, sx), (cy, cx), (sy, cx))]
        )
    basis = np.asarray(products)
    basis = basis - basis.mean(axis=-1, keepdims=True)
    gram = np.einsum("kmi,kni->kmn", basis, basis)
    return basis.astype(np.float32), gram.astype(np.float32)


def _product_weights(phi: np.ndarray) -> np.ndarray:
    """For each phase, the coefficients of `cos(f y + phi) sin(f x + phi)` on the 4
    products of `_grating_products`, `(..., 4)`."""
    c, s = np.cos(phi), np.sin(phi)
    # cos(fy + p) sin(fx + p) = c^2 cy sx - c s sy sx + s c cy cx - s^2 sy cx.
    return np.stack([c * c, -c * s, s * c, -s * s], axis=-1)


@functools.cache
def _phase_weights(num_phases: int) -> tuple[np.ndarray, np.ndarray]:
    """The phases of the grid on [0, pi) and, for each, `_product_weights`."""
    phi = np.pi * np.arange(num_phases) / num_phases
    return phi.astype(np.float32), _product_weights(phi).astype(np.float32)


def _check_frequencies(frequencies: Sequence[float]) -> tuple[float, ...]:
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
    frequencies = _check_frequencies(frequencies)
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
    >>> t = jnp.arange(16000) / 16000
    >>> tone = jnp.sin(2 * jnp.pi * 440.3 * t + 0.5)
    >>> f, m, p = spectral_peaks(tone, 1, sample_rate=16000, f_min=100, f_max=2000)
    >>> round(float(f[0]), 1), round(float(p[0]), 2)
    (440.3, 0.5)

    ```
    """
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
    frequency = (index.astype(offset.dtype) + offset) * (sample_rate / n)
    # A periodic Hann window is symmetric about sample n / 2, so a tone `offset` bins off
    # the bin turns its phase by `pi * offset` there; `sin` is `cos` delayed by pi / 2.
    phase = jnp.angle(spectrum[index]) - jnp.pi * offset + jnp.pi / 2
    return frequency, height, jnp.mod(phase, 2 * jnp.pi)


def _harmonics(angle: Float[Array, " n"], count: int) -> Float[Array, "n features"]:
    multiple = angle[:, None] * jnp.arange(1, count + 1, dtype=angle.dtype)[None, :]
    return jnp.concatenate([jnp.cos(multiple), jnp.sin(multiple)], axis=-1)


def _relative(amplitude: Float[Array, " n"]) -> tuple[Float[Array, " n"], Float[Array, "n 2"]]:
    """Amplitudes relative to their mean (the signals are normalised, so only ratios
    carry information), and the per-component features `(r, log r)`."""
    relative = amplitude / (jnp.mean(amplitude) + 1e-6)
    return relative, jnp.stack([relative, jnp.log(relative + 1e-3)], axis=-1)


class _DeepSet(eqx.Module):
    """A shared two-layer MLP on each element, pooled by weight, then a linear head."""

    first: eqx.nn.Linear
    second: eqx.nn.Linear
    head: eqx.nn.Linear

    def __init__(self, features: int, hidden: int, d_model: int, *, key: PRNGKeyArray):
        first_key, second_key, head_key = jr.split(key, 3)
        self.first = eqx.nn.Linear(features, hidden, key=first_key)
        self.second = eqx.nn.Linear(hidden, hidden, key=second_key)
        self.head = eqx.nn.Linear(hidden, d_model, key=head_key)

    def encode(self, elements: Float[Array, "n f"]) -> Float[Array, "n hidden"]:
        h = jax.nn.gelu(jax.vmap(self.first)(elements))
        return jax.nn.gelu(jax.vmap(self.second)(h))

    def pool(self, h: Float[Array, "n hidden"], weight: Float[Array, " n"]) -> Embedding:
        return self.head(jnp.sum(h * weight[:, None], axis=0) / (jnp.sum(weight) + 1e-6))

    def __call__(self, elements: Float[Array, "n f"], weight: Float[Array, " n"]) -> Embedding:
        return self.pool(self.encode(elements), weight)


class GratingImageEncoder(eqx.Module):
    """`fit_gratings` -> per-grating features -> DeepSets, plus an indexed head.

    Each grating `k` becomes the harmonics of its doubled phase and its amplitude relative
    to the others; a shared MLP encodes each and the results are pooled by amplitude (the
    audio has the same components in no order). A linear head on the MLP's outputs for
    all gratings in order is added, for modalities that know which grating is which (the
    text, whose token counts say something about each signed `z_k`: a nonlinear function
    of the grating's phase and amplitude).

    ```python
    >>> import jax.random as jr
    >>> encoder = GratingImageEncoder((32, 32, 3), 64, key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (32, 32, 3))).shape
    (64,)

    ```
    """

    components: _DeepSet
    indexed_head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    frequencies: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    num_phases: int = eqx.field(static=True)
    sweeps: int = eqx.field(static=True)

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        frequencies: Sequence[float] = GUIDE_FREQUENCIES,
        harmonics: int = 3,
        hidden: int = 128,
        num_phases: int = 180,
        sweeps: int = 8,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)`; channels are averaged.
        - `d_model`: the embedding size.
        - `frequencies`: keyword only. The gratings' frequencies, rad per unit.
        - `harmonics`: keyword only. Harmonics of each phase given to the MLP.
        - `hidden`: keyword only. Width of the per-grating MLP.
        - `num_phases`, `sweeps`: keyword only. Of `fit_gratings`.
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        check_int(d_model, "d_model")
        self.frequencies = _check_frequencies(frequencies)
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        self.num_phases = check_int(num_phases, "num_phases", minimum=2)
        self.sweeps = check_int(sweeps, "sweeps")
        features = 2 * self.harmonics + 2
        set_key, indexed_key = jr.split(key)
        self.components = _DeepSet(features, hidden, d_model, key=set_key)
        self.indexed_head = eqx.nn.Linear(hidden * len(self.frequencies), d_model, key=indexed_key)

    def gratings(self, image: Image) -> tuple[Float[Array, " K"], Float[Array, " K"]]:
        """The fitted amplitude and doubled phase of each grating (no gradient)."""
        if image.shape != self.image_shape:
            raise ValueError(f"expected an image of shape {self.image_shape}, got {image.shape}")
        gray = jnp.mean(jax.lax.stop_gradient(image), axis=-1)
        return fit_gratings(gray, self.frequencies, num_phases=self.num_phases, sweeps=self.sweeps)

    def __call__(self, image: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        amplitude, phase = self.gratings(image)
        relative, amplitude_features = _relative(jnp.abs(amplitude))
        features = jnp.concatenate([_harmonics(phase, self.harmonics), amplitude_features], -1)
        h = self.components.encode(features)
        return self.components.pool(h, relative) + self.indexed_head(h.reshape(-1))


class PeakAudioEncoder(eqx.Module):
    """`spectral_peaks` -> per-peak features -> DeepSets.

    Each peak becomes the harmonics of its position in the band (as an angle, `2 pi u`
    with `u` in [0, 1]) and of its phase, and its magnitude relative to the others; a
    shared MLP encodes each and the results are pooled by magnitude, so the order of the
    peaks does not matter.

    ```python
    >>> import jax.random as jr
    >>> encoder = PeakAudioEncoder(16000, 64, sample_rate=16000, key=jr.key(0))
    >>> encoder(jr.normal(jr.key(1), (16000,))).shape
    (64,)

    ```
    """

    components: _DeepSet
    num_samples: int = eqx.field(static=True)
    sample_rate: float = eqx.field(static=True)
    f_min: float = eqx.field(static=True)
    f_max: float = eqx.field(static=True)
    num_peaks: int = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)

    def __init__(
        self,
        num_samples: int,
        d_model: int,
        *,
        sample_rate: int,
        f_min: float = 100.0,
        f_max: float = 2000.0,
        num_peaks: int = 10,
        harmonics: int = 3,
        hidden: int = 128,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_samples`: the length of the waveforms.
        - `d_model`: the embedding size.
        - `sample_rate`: keyword only. Hz.
        - `f_min`, `f_max`: keyword only. The band searched for peaks (the guide's
            tones lie in 100-2000 Hz).
        - `num_peaks`: keyword only. Peaks kept (the guide's audio has 10 tones).
        - `harmonics`: keyword only. Harmonics of each angle given to the MLP.
        - `hidden`: keyword only. Width of the per-peak MLP.
        - `key`: keyword only. The key of the initialisation.
        """
        self.num_samples = check_int(num_samples, "num_samples", minimum=3)
        check_int(d_model, "d_model")
        self.sample_rate = float(check_int(sample_rate, "sample_rate"))
        self.f_min = check_real(f_min, "f_min", low=0.0)
        self.f_max = check_real(f_max, "f_max", low=self.f_min, low_open=True)
        self.num_peaks = check_int(num_peaks, "num_peaks")
        # Fails now, with the same message, if the band has too few bins.
        jax.eval_shape(
            functools.partial(
                spectral_peaks,
                num_peaks=self.num_peaks,
                sample_rate=self.sample_rate,
                f_min=self.f_min,
                f_max=self.f_max,
            ),
            jax.ShapeDtypeStruct((self.num_samples,), jnp.float32),
        )
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        self.components = _DeepSet(4 * self.harmonics + 2, hidden, d_model, key=key)

    def peaks(self, audio: Waveform) -> tuple[Array, Array, Array]:
        """`spectral_peaks` of the waveform (no gradient)."""
        if audio.shape != (self.num_samples,):
            raise ValueError(
                f"expected a waveform of {self.num_samples} samples, got {audio.shape}"
            )
        return spectral_peaks(
            jax.lax.stop_gradient(audio),
            self.num_peaks,
            sample_rate=self.sample_rate,
            f_min=self.f_min,
            f_max=self.f_max,
        )

    def __call__(self, audio: Waveform, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        frequency, magnitude, phase = self.peaks(audio)
        position = 2 * jnp.pi * (frequency - self.f_min) / (self.f_max - self.f_min)
        relative, magnitude_features = _relative(magnitude)
        features = jnp.concatenate(
            [_harmonics(position, self.harmonics), _harmonics(phase, self.harmonics)]
            + [magnitude_features],
            axis=-1,
        )
        return self.components(features, relative)

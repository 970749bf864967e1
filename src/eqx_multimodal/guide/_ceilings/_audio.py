"""The audio's signed tone set: a sinusoid fit on the DFT bins."""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._validation import check_int, check_real
from .._synthetic import AUDIO_COMPONENTS
from ._common import _check_alignment, _chunked, _MAX_MAGNITUDE, _TONE_HIGH, _TONE_LOW, _x64


# ------------------------------------------------------------------------------------
# Audio: the signed tone set
# ------------------------------------------------------------------------------------


class ReferenceToneSet(NamedTuple):
    """The tones read from waveforms, in no particular order (leading batch axes as the
    input's), in float64 NumPy: the ceilings' reference, independent of the towers'
    (`guide.towers.ToneSet`, in JAX, inside a model), as a scorer must be of what it
    scores.

    - `values`: `(..., num_tones)` the signed latents `z_i` the tones show.
    - `frequency`: `(..., num_tones)` Hz, on the renderer's time axis
        `linspace(0, duration, samples)`.
    - `amplitude`: `(..., num_tones)` the tone amplitudes in waveform units.
    - `phase`: `(..., num_tones)` the phase at `t = 0` of `sin(2 pi f t + phase)`, in
        `[0, 2 pi)`.
    - `noise`: `(...)` the standard deviation of the noise in waveform units, from the
        band above the tones.
    """

    values: np.ndarray
    frequency: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray
    noise: np.ndarray


def _blackman_harris(n: int) -> np.ndarray:
    k = np.arange(n)
    c = (0.35875, 0.48829, 0.14128, 0.01168)
    x = 2 * np.pi * k / n
    return c[0] - c[1] * np.cos(x) + c[2] * np.cos(2 * x) - c[3] * np.cos(3 * x)


def _dft_kernels(omega: Array, bins: np.ndarray, n: int):
    """The DFT (over samples 0..n-1, at `bins`) of `sin(omega k)` and `cos(omega k)` for
    each angular frequency `omega` (rad per sample), and their derivatives in `omega`:
    four `(len(bins), K)` complex arrays, in closed form (no per-sample work).

    `sum_k exp(i theta k) = D(theta) exp(i theta (n - 1) / 2)` with the Dirichlet
    kernel `D = sin(n theta / 2) / sin(theta / 2)`; at `theta = s omega - 2 pi b / n`,
    `sin(n theta / 2) = (-1)^b sin(n s omega / 2)`, and the half-angle terms come from
    tables of the bins, so the only transcendental functions are per tone.
    """
    beta = 2 * np.pi * np.asarray(bins, np.float64) / n
    sign_b = jnp.asarray(np.where(np.asarray(bins) % 2 == 0, 1.0, -1.0))[:, None]
    cos_b = jnp.asarray(np.cos(beta / 2))[:, None]
    sin_b = jnp.asarray(np.sin(beta / 2))[:, None]
    rot_b = jnp.asarray(np.exp(-1j * beta * (n - 1) / 2))[:, None]

    def geometric(s: float):
        so = s * omega[None, :]
        den = jnp.sin(so / 2) * cos_b - jnp.cos(so / 2) * sin_b  # sin(theta / 2)
        cos_half = jnp.cos(so / 2) * cos_b + jnp.sin(so / 2) * sin_b
        num = sign_b * jnp.sin(n * so / 2)
        dnum = (n / 2) * sign_b * jnp.cos(n * so / 2)
        small = jnp.abs(den) < 1e-300
        safe = jnp.where(small, 1.0, den)
        dirichlet = jnp.where(small, float(n), num / safe)
        derivative = jnp.where(small, 0.0, (dnum * den - 0.5 * num * cos_half) / safe**2)
        rotation = jnp.exp(1j * _complex(so * ((n - 1) / 2))) * rot_b
        value = _complex(dirichlet) * rotation
        slope = jax.lax.complex(s * derivative, s * ((n - 1) / 2) * dirichlet) * rotation
        return value, slope

    plus, dplus = geometric(1.0)
    minus, dminus = geometric(-1.0)
    return (
        (plus - minus) / 2j,
        (plus + minus) / 2,
        (dplus - dminus) / 2j,
        (dplus + dminus) / 2,
    )


def _complex(x: Array) -> Array:
    return x.astype(jnp.complex128)


def _real(x: Array) -> Array:
    return jnp.concatenate([jnp.real(x), jnp.imag(x)], axis=0)


def _fit_sinusoids(spectrum: Array, omega: Array, bins: np.ndarray, n: int, iterations: int):
    """Levenberg-Marquardt least squares of a sum of sinusoids `a_i sin(omega_i k) + b_i
    cos(omega_i k)` to the DFT bins `bins` of a waveform (white noise stays white in the
    DFT, so this is the maximum-likelihood fit restricted to those bins). A ridge of
    1e-4 times a unit tone's energy on `(a_i, b_i)` keeps two tones that converge on one
    frequency from cancelling with huge amplitudes (it shrinks amplitudes by 1e-4).

    Returns the parameters `(omega, a, b)` stacked, the real residual of the bins and
    the penalised cost.
    """
    k = omega.shape[0]
    ridge = 1e-4 * n * n / 2  # the DFT energy of a unit sinusoid is about n^2 / 2
    penalty = jnp.concatenate([jnp.zeros(k), jnp.full(2 * k, ridge)])
    ks, kc, _, _ = _dft_kernels(omega, bins, n)
    design = _real(jnp.concatenate([ks, kc], axis=1))
    target = _real(spectrum)
    coef = jnp.linalg.solve(design.T @ design + ridge * jnp.eye(2 * k), design.T @ target)
    params = jnp.concatenate([omega, coef])
    residual = target - design @ coef

    def total(residual, params):
        return residual @ residual + jnp.sum(penalty * params**2)

    def evaluate(params):
        """The residual, cost and Jacobian at `params` (one evaluation of the kernels)."""
        om, sa, ca = params[:k], params[k : 2 * k], params[2 * k :]
        ks, kc, dks, dkc = _dft_kernels(om, bins, n)
        model = ks @ _complex(sa) + kc @ _complex(ca)
        residual = target - _real(model)
        jac = _real(
            jnp.concatenate(
                [dks * _complex(sa)[None, :] + dkc * _complex(ca)[None, :], ks, kc], axis=1
            )
        )
        return residual, total(residual, params), jac

    def body(carry, _):
        params, damping, residual, cost, jac = carry
        hess = jac.T @ jac + jnp.diag(penalty)
        step = jnp.linalg.solve(
            hess + damping * jnp.diag(jnp.diag(hess)) + 1e-12 * jnp.eye(3 * k),
            jac.T @ residual - penalty * params,
        )
        trial = params + step
        trial_residual, trial_cost, trial_jac = evaluate(trial)
        better = trial_cost < cost
        return (
            jnp.where(better, trial, params),
            jnp.where(better, damping / 5, damping * 5),
            jnp.where(better, trial_residual, residual),
            jnp.where(better, trial_cost, cost),
            jnp.where(better, trial_jac, jac),
        ), None

    residual, cost, jac = evaluate(params)
    init = (params, jnp.asarray(1e-3, jnp.float64), residual, cost, jac)
    (params, _, residual, cost, _), _ = jax.lax.scan(body, init, None, length=iterations)
    return params, residual, cost


@functools.partial(jax.jit, static_argnames=("n", "step", "num_tones", "iterations"))
def _tone_fit(
    waves: Array, refinements: Array, *, n: int, step: float, num_tones: int, iterations: int
):
    """Fit `num_tones` sinusoids to each waveform of a batch (see `audio_tone_set`)."""
    hz = np.arange(n // 2 + 1) / (n * step)
    band = np.flatnonzero((hz >= _TONE_LOW - 15.0) & (hz <= _TONE_HIGH + 15.0))
    high = np.flatnonzero((hz >= _TONE_HIGH + 100.0) & (hz <= 0.99 * hz[-1]))
    n_fft = 1 << int(math.ceil(math.log2(4 * n)))
    window = jnp.asarray(_blackman_harris(n))
    fft_hz = np.arange(n_fft // 2 + 1) / (n_fft * step)
    lo = int(np.searchsorted(fft_hz, _TONE_LOW - 5.0))
    hi = int(np.searchsorted(fft_hz, _TONE_HIGH + 5.0))

    def one(wave):
        spectrum = jnp.fft.rfft(wave)
        in_band = spectrum[band]
        # First guesses: the largest peaks of a zero-padded spectrum whose window has low
        # side lobes, so that a loud tone's side lobes do not hide a quiet one.
        padded = jnp.abs(jnp.fft.rfft(wave * window, n_fft))
        inner = padded[lo:hi]
        is_peak = (inner > padded[lo - 1 : hi - 1]) & (inner >= padded[lo + 1 : hi + 1])
        _, index = jax.lax.top_k(jnp.where(is_peak, inner, 0.0), num_tones)
        index = index + lo
        left = jnp.log(padded[index - 1] + 1e-300)
        centre = jnp.log(padded[index] + 1e-300)
        right = jnp.log(padded[index + 1] + 1e-300)
        offset = 0.5 * (left - right) / (left - 2 * centre + right - 1e-300)
        omega = 2 * jnp.pi * (index.astype(jnp.float64) + jnp.clip(offset, -1.0, 1.0)) / n_fft
        fitted = _fit_sinusoids(in_band, omega, band, n, iterations)

        def refine(_, carry):
            # Two tones closer than the window's main lobe show as one peak: look for
            # the largest peak left in the residual, fit one tone more and drop the
            # weakest, if that fits better.
            params, residual, cost = carry
            res = jax.lax.complex(residual[: band.size], residual[band.size :])
            j = jnp.argmax(jnp.abs(res[1:-1])) + 1
            delta = -jnp.real((res[j + 1] - res[j - 1]) / (2 * res[j] - res[j - 1] - res[j + 1]))
            new = (
                2
                * jnp.pi
                * (float(band[0]) + j.astype(jnp.float64) + jnp.clip(delta, -1.0, 1.0))
                / n
            )
            more, _, _ = _fit_sinusoids(
                in_band, jnp.concatenate([params[:num_tones], new[None]]), band, n, iterations
            )
            k1 = num_tones + 1
            amplitude = jnp.hypot(more[k1 : 2 * k1], more[2 * k1 :])
            keep = jnp.argsort(-amplitude)[:num_tones]
            new_params, new_residual, new_cost = _fit_sinusoids(
                in_band, more[:k1][keep], band, n, 3
            )
            better = new_cost < cost
            return (
                jnp.where(better, new_params, params),
                jnp.where(better, new_residual, residual),
                jnp.where(better, new_cost, cost),
            )

        # (a traced number of rounds: one compilation for the first pass and the second)
        params, residual, _ = jax.lax.fori_loop(0, refinements, refine, fitted)
        om = params[:num_tones]
        sa, ca = params[num_tones : 2 * num_tones], params[2 * num_tones :]
        # The noise floor: what is left above the tones once their leakage is removed.
        ks, kc, _, _ = _dft_kernels(om, high, n)
        rest = spectrum[high] - ks @ _complex(sa) - kc @ _complex(ca)
        noise = jnp.sqrt(jnp.mean(jnp.abs(rest) ** 2) / n)
        # The largest peak left in the band, in units of the noise (or, without noise,
        # of 1e-4 of the loudest tone's peak): a tone missed.
        left = jnp.max(jnp.hypot(residual[: band.size], residual[band.size :]))
        loudest = jnp.max(jnp.hypot(sa, ca)) * n / 2
        missed = left / (noise * math.sqrt(n) + 1e-4 * loudest + 1e-300)
        return om, jnp.hypot(sa, ca), jnp.mod(jnp.arctan2(ca, sa), 2 * jnp.pi), noise, missed

    return jax.vmap(one)(waves)


def _signed_values(
    frequency: np.ndarray,
    amplitude: np.ndarray,
    phase: np.ndarray,
    noise: np.ndarray,
    alignment: float,
) -> np.ndarray:
    """The signed latents from the fitted tones: `frac|z|` from the frequency, `|z|` from
    the amplitude (its integer part), the sign from the phase."""
    frac = (frequency - _TONE_LOW) / (_TONE_HIGH - _TONE_LOW)
    if alignment < 1.0:
        # amplitude = s a 0.1 |z| and noise = s (1 - a) 0.1 for the same peak scale s.
        scale = (1.0 - alignment) / (alignment * noise[..., None])
    else:
        # No noise: the amplitudes give |z| only up to one scale. The scale is the one
        # that makes every `scale A_i - frac_i` an integer: try the integer parts
        # 0..8 of the loudest tone and keep the most consistent.
        loudest = np.argmax(amplitude, axis=-1)[..., None]
        a_max = np.take_along_axis(amplitude, loudest, -1)
        f_max = np.take_along_axis(frac, loudest, -1)
        candidates = (np.arange(9.0) + f_max) / a_max  # (..., 9)
        x = candidates[..., :, None] * amplitude[..., None, :] - frac[..., None, :]
        misfit = np.sum((x - np.round(x)) ** 2, axis=-1)
        scale = np.take_along_axis(candidates, np.argmin(misfit, -1)[..., None], -1)
    magnitude = frac + np.maximum(np.round(scale * amplitude - frac), 0.0)
    # The phase is 2 pi z: closer to 2 pi |z| or to -2 pi |z|?
    plus = np.abs(np.angle(np.exp(1j * (phase - 2 * np.pi * magnitude))))
    minus = np.abs(np.angle(np.exp(1j * (phase + 2 * np.pi * magnitude))))
    # Two tones of one frequency cannot be told apart and may fit as a huge cancelling
    # pair: no latent is that large (P(|z| > 8) < 1e-15).
    magnitude = np.minimum(magnitude, _MAX_MAGNITUDE)
    return np.where(plus <= minus, magnitude, -magnitude)


def audio_tone_set(
    audio: np.ndarray | Array,
    alignment: float,
    *,
    sample_rate: int = 16000,
    duration: float = 1.0,
    num_tones: int = AUDIO_COMPONENTS,
    iterations: int = 6,
    refinements: int = 2,
    chunk: int = 16,
) -> ReferenceToneSet:
    """Read the signed latents of the renderer's tones from waveforms.

    A least-squares fit of `num_tones` sinusoids (Levenberg-Marquardt on the DFT bins of
    100-2000 Hz, from the peaks of a zero-padded Blackman-Harris spectrum, then
    `refinements` rounds that add the largest peak left in the residual and drop the
    weakest tone, if that fits better; only for clips whose residual shows a peak well
    above the noise). The noise standard deviation is estimated from the DFT above 2100 Hz,
    where there are no tones, after removing the fitted tones' leakage. Then, per tone:

    - `frac|z| = (f - 100) / 1900` from the frequency `f`;
    - `|z| = frac|z| + m`, the integer `m >= 0` nearest to `amplitude / (0.1 a s) -
        frac|z|`, where `0.1 (1 - a) s` is the noise level (the peak normalisation
        scales tone and noise by the same `s`). At alignment 1 there is no noise: the
        amplitudes give `|z|` up to one common scale, which is taken as the one that
        makes every `|z_i| - frac|z_i|` closest to an integer (exact without noise);
    - the sign: the phase at `t = 0` is `2 pi z`, so `z = |z|` or `-|z|`, whichever
        puts `2 pi z` closer to it. (Undecidable when `frac|z|` is within noise of 0 or
        1/2, where both signs give the same phase.)

    Two tones closer than about 1 Hz (`|frac|z_i| - frac|z_j|| < 5e-4`) cannot be told
    apart in one second, and a tone with `|z| < 0.05` may be lost in the noise; at the
    README's alignment 0.8 about 97% of clips give every tone with `|z| >= 0.05` to
    within 1e-3 (most to within 1e-6).

    **Arguments:**

    - `audio`: waveforms `(..., samples)` rendered by `audio_from_latent`.
    - `alignment`: the data's alignment, in (0, 1]. (At 0 there are no tones.)
    - `sample_rate`, `duration`: keyword only, as rendered; the time axis is
        `linspace(0, duration, samples)`, and the band above 2100 Hz must exist.
    - `num_tones`: keyword only. Tones to fit.
    - `iterations`, `refinements`: keyword only. Levenberg-Marquardt steps per fit and
        rounds of looking for a missed tone.
    - `chunk`: keyword only. Waveforms fitted at a time.

    **Returns:**

    A `ReferenceToneSet` of float64 NumPy arrays.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal.data import audio_from_latent
    >>> z = jr.normal(jr.key(3), (32,))  # tones >= 0.2 and >= 60 Hz apart
    >>> tones = audio_tone_set(audio_from_latent(z, 0.8, key=jr.key(1)), 0.8)
    >>> import numpy as np
    >>> bool(np.allclose(np.sort(tones.values), np.sort(np.asarray(z[:10])), atol=1e-3))
    True

    ```
    """
    a = _check_alignment(alignment, allow_zero=False)
    check_int(sample_rate, "sample_rate")
    duration = check_real(duration, "duration", low=0.0, low_open=True)
    check_int(num_tones, "num_tones")
    check_int(iterations, "iterations", minimum=0)
    check_int(refinements, "refinements", minimum=0)
    check_int(chunk, "chunk")
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim < 1 or audio.shape[-1] < 16:
        raise ValueError(f"`audio` must be waveforms (..., samples), got shape {audio.shape}")
    n = audio.shape[-1]
    step = duration / (n - 1)
    nyquist = 0.5 / step
    if nyquist < _TONE_HIGH + 600.0:
        raise ValueError(
            f"`sample_rate`={sample_rate} and `duration`={duration} put the Nyquist frequency "
            f"at {nyquist:.0f} Hz; the noise floor needs the band above {_TONE_HIGH + 100:.0f} Hz"
        )
    batch_shape = audio.shape[:-1]
    flat = audio.reshape(-1, n)
    if flat.shape[0] == 0:
        raise ValueError(f"`audio` holds no waveform, got shape {audio.shape}")
    fit = functools.partial(_tone_fit, n=n, step=step, num_tones=num_tones, iterations=iterations)
    with _x64():
        # Fit every clip once; fit again, looking for missed tones, only the clips with a
        # peak left in the residual well above the noise (5 times the noise's scale, where
        # the largest of ~2000 noise bins is about 2.7 times it; without noise, 5e-4 of
        # the loudest tone's peak).
        omega, amplitude, phase, noise, missed = _chunked(
            lambda w: fit(w, jnp.int32(0)), [flat], chunk
        )
        again = np.flatnonzero(missed > 5.0) if refinements else np.zeros(0, int)
        if again.size:
            redo = _chunked(lambda w: fit(w, jnp.int32(refinements)), [flat[again]], chunk)
            for out, new in zip((omega, amplitude, phase, noise), redo):
                out[again] = new
    frequency = omega / (2 * np.pi * step)
    values = _signed_values(frequency, amplitude, phase, noise.reshape(-1), a)
    return ReferenceToneSet(
        values=values.reshape(*batch_shape, num_tones),
        frequency=frequency.reshape(*batch_shape, num_tones),
        amplitude=amplitude.reshape(*batch_shape, num_tones),
        phase=phase.reshape(*batch_shape, num_tones),
        noise=noise.reshape(batch_shape),
    )

"""Parameter-free likelihood front ends of the set towers (`towers="sets"`), fitted to
the guide's renderers.

- `project_gratings`: the image's projections on the 32 centred grating products (the
  sufficient statistics of a grating fit: every least-squares quantity below is a
  function of these 32 numbers, the image's squared norm and a constant Gram matrix).
- `fit_grating_set`: a variable-projection fit of the gratings' phases: for given phases
  the amplitudes are linear least squares, so the objective is a function of the phases
  alone, `J(phi) = b^T M^{-1} b`. Coordinate descent on a phase grid in which each
  grating's phase is chosen with the *other gratings' amplitudes re-solved* (a Schur
  complement; `fit_gratings` keeps them fixed, which traps it in local minima when
  neighbouring gratings, 84% correlated along each axis, trade amplitude), from several
  starts, then Levenberg-Marquardt steps on all phases and amplitudes. The grid search
  takes only phases whose amplitude is positive (the renderer's gain is positive); the
  polish and the final amplitudes are unconstrained least squares, so a grating with
  almost no signal may end slightly negative. Also returns the noise
  variance of the residual and the Fisher (Laplace) marginal covariance of each
  grating's `(doubled phase, amplitude)`, which says how far to trust each grating.
- `tone_set`: the audio's spectral peaks with the Hann window's scalloping loss
  corrected and the noise floor estimated from the band above the tones.
- `scale_sign_posterior`: what an image says about its signed latents.
- `grating_log_likelihood`: the verifier that re-ranks image <-> audio candidates.

Everything is a pure function of one example (callers vmap) and has no gradient.
"""

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..._validation import check_int
from ...nn._signal import hann_window
from ._signal import (
    _grating_products,
    _phase_weights,
    check_frequencies,
    GUIDE_FREQUENCIES,
    hann_peaks,
    product_weights as _signal_product_weights,
)


class GratingFit(NamedTuple):
    """The result of `fit_grating_set` for one image (K gratings)."""

    amplitude: Float[Array, " K"]  # in the image's (min-max normalised) units
    phase: Float[Array, " K"]  # the doubled phase 2 phi in [0, 2 pi): 2 pi frac(z_k)
    noise: Float[Array, ""]  # residual variance per pixel
    phase_std: Float[Array, " K"]  # Laplace marginal std of `phase`
    amplitude_std: Float[Array, " K"]  # Laplace marginal std of `amplitude`
    correlation: Float[Array, " K"]  # their correlation
    projections: Float[Array, "K 4"]  # the sufficient statistics (for re-ranking)
    energy: Float[Array, ""]  # squared norm of the centred image


@functools.cache
def grating_tables(
    height: int, width: int, frequencies: tuple[float, ...], num_phases: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(basis (K*4, H*W), gram (K, 4, K, 4), grid (P,), weights (P, 4))`."""
    basis, _ = _grating_products(height, width, frequencies)
    k = basis.shape[0]
    flat = basis.reshape(k * 4, -1).astype(np.float64)
    gram = (flat @ flat.T).reshape(k, 4, k, 4)
    grid, weights = _phase_weights(num_phases)
    return flat.astype(np.float32), gram.astype(np.float32), grid, weights


def product_weights(phi: Array) -> Array:
    """The coefficients of `cos(f y + phi) sin(f x + phi)` on the 4 products, `(..., 4)`
    (`_signal.product_weights` in JAX)."""
    return _signal_product_weights(phi, jnp)


def _product_weights_dphi(phi: Array) -> Array:
    c, s = jnp.cos(phi), jnp.sin(phi)
    return jnp.stack([-2 * c * s, s * s - c * c, c * c - s * s, -2 * s * c], axis=-1)


def _solve(a: Array, rhs: Array) -> Array:
    """Gaussian elimination without pivoting (a is symmetric positive definite), unrolled:
    on a CPU, vmapped over thousands of 8 x 8 systems, 2x faster than `linalg.solve`."""
    n = a.shape[-1]
    m = jnp.concatenate([a, rhs], -1)
    for i in range(n):
        pivot = m[..., i : i + 1, :] / m[..., i : i + 1, i : i + 1]
        m = m - m[..., :, i : i + 1] * pivot
        m = m.at[..., i : i + 1, :].set(pivot)
    return m[..., n:]


_RIDGE = 1e-6


def _wrap(angle: Array) -> Array:
    """An angle in [-pi, pi)."""
    return jnp.mod(angle + jnp.pi, 2 * jnp.pi) - jnp.pi


def _schur(k: Array, w: Array, active: Array, p: Array, gram: Array) -> tuple[Array, Array]:
    """Grating `k`'s projection with the other active gratings' best fit removed, `(4,)`,
    and its Schur complement, `(4, 4)`: for a phase with weights `v`, the best objective
    with grating `k` at that phase is `(v.r)^2 / (v^T S v)` above the others' alone."""
    num = w.shape[0]
    others = active * (jnp.arange(num) != k).astype(active.dtype)
    m = jnp.einsum("ia,iajb,jb->ij", w, gram, w)
    m = m * others[:, None] * others[None, :] + jnp.diag(1 - others + _RIDGE)
    b = jnp.sum(w * p, -1) * others
    cross = jnp.einsum("ajb,jb->aj", gram[k], w) * others[None, :]
    sol = _solve(m, jnp.concatenate([b[:, None], cross.T], axis=1))
    return p[k] - cross @ sol[:, 0], gram[k, :, k, :] - cross @ sol[:, 1:]


def _amplitudes(phi: Array, p: Array, gram: Array) -> tuple[Array, Array]:
    w = product_weights(phi)
    m = jnp.einsum("ia,iajb,jb->ij", w, gram, w) + _RIDGE * jnp.eye(w.shape[0])
    b = jnp.sum(w * p, -1)
    amplitude = _solve(m, b[:, None])[:, 0]
    return amplitude, b @ amplitude


def _jacobian(phi: Array, amplitude: Array) -> Array:
    """d c / d (phi, A) of the coefficients `c_k = A_k w(phi_k)`, `(K, 4, 2K)`."""
    num = phi.shape[0]
    idx = jnp.arange(num)
    jac = jnp.zeros((num, 4, 2 * num), phi.dtype)
    jac = jac.at[idx, :, idx].set(amplitude[:, None] * _product_weights_dphi(phi))
    return jac.at[idx, :, num + idx].set(product_weights(phi))


def _polish(phi: Array, amplitude: Array, p: Array, gram: Array, steps: int):
    """Levenberg-Marquardt on `|p - G c|` in the Gram metric, `c_k = A_k w(phi_k)`."""
    num = phi.shape[0]

    def loss(phi, amplitude):
        c = amplitude[:, None] * product_weights(phi)
        return jnp.einsum("ka,kalb,lb->", c, gram, c) - 2 * jnp.sum(c * p)

    def step(carry, _):
        phi, amplitude, damping = carry
        c = amplitude[:, None] * product_weights(phi)
        jac = _jacobian(phi, amplitude)
        gradient = jnp.einsum("kap,ka->p", jac, p - jnp.einsum("kalb,lb->ka", gram, c))
        normal = jnp.einsum("kap,kalb,lbq->pq", jac, gram, jac)
        scale = jnp.diag(normal) + 1e-9
        delta = _solve(normal + damping * jnp.diag(scale), gradient[:, None])[:, 0]
        new_phi, new_amp = phi + delta[:num], amplitude + delta[num:]
        better = loss(new_phi, new_amp) < loss(phi, amplitude)
        return (
            jnp.where(better, new_phi, phi),
            jnp.where(better, new_amp, amplitude),
            jnp.where(better, damping * 0.3, damping * 10.0),
        ), None

    (phi, amplitude, _), _ = jax.lax.scan(step, (phi, amplitude, jnp.asarray(1e-3)), None, steps)
    return jnp.mod(phi, jnp.pi), amplitude


def project_gratings(
    gray: Float[Array, "height width"], frequencies: Sequence[float] = GUIDE_FREQUENCIES
) -> tuple[Float[Array, "K 4"], Float[Array, ""]]:
    """The centred image's projections on the grating products, and its squared norm."""
    frequencies = check_frequencies(frequencies)
    basis, _, _, _ = grating_tables(*gray.shape, frequencies, 2)
    y = (gray - jnp.mean(gray)).reshape(-1)
    return (jnp.asarray(basis) @ y).reshape(len(frequencies), 4), y @ y


def fit_grating_set(
    gray: Float[Array, "height width"],
    frequencies: Sequence[float] = GUIDE_FREQUENCIES,
    *,
    num_phases: int = 32,
    starts: int = 4,
    sweeps: int = 4,
    polish: int = 4,
) -> GratingFit:
    """Variable-projection least-squares fit of `c + sum_k A_k cos(f_k y + phi_k)
    sin(f_k x + phi_k)`, the grid search over phases with `A_k >= 0` (see the module
    docstring).

    Start 0 adds the gratings one at a time (a greedy first sweep); start `s > 0` begins
    with every grating at a patterned phase. The start of largest objective wins;
    `polish` Levenberg-Marquardt steps on all phases and amplitudes jointly then refine
    it off the grid.
    """
    frequencies = check_frequencies(frequencies)
    if gray.ndim != 2:
        raise ValueError(f"`gray` must be one (height, width) image, got shape {gray.shape}")
    check_int(num_phases, "num_phases", minimum=2)
    check_int(starts, "starts")
    check_int(sweeps, "sweeps")
    check_int(polish, "polish", minimum=0)
    height, width = gray.shape
    num = len(frequencies)
    _, gram, grid, weights = map(
        jnp.asarray, grating_tables(height, width, frequencies, num_phases)
    )
    p, energy = project_gratings(gray, frequencies)
    p, energy = jax.lax.stop_gradient(p), jax.lax.stop_gradient(energy)

    def run(phi0: Array, active0: Array) -> Array:
        def update(j, carry):
            phi, active = carry
            k = j % num
            r, s = _schur(k, product_weights(phi), active, p, gram)
            numerator = jnp.maximum(weights @ r, 0.0)
            denominator = jnp.einsum("pa,ab,pb->p", weights, s, weights)
            best = grid[jnp.argmax(numerator**2 / (denominator + 1e-9))]
            return phi.at[k].set(best), active.at[k].set(1.0)

        return jax.lax.fori_loop(0, num * sweeps, update, (phi0, active0))[0]

    # All starts in one loop (vmapped): one copy of the sweep to compile, not `starts`.
    # Start 0 from nothing placed, start s > 0 from every grating at a patterned phase.
    phi0 = [jnp.zeros(num)] + [
        (jnp.pi * s / starts + 2.3 * s * jnp.arange(num, dtype=jnp.float32)) % jnp.pi
        for s in range(1, starts)
    ]
    active0 = jnp.asarray(np.repeat(np.arange(starts)[:, None] > 0, num, 1), jnp.float32)
    stacked = jax.vmap(run)(jnp.stack(phi0), active0)
    objective = jax.vmap(lambda ph: _amplitudes(ph, p, gram)[1])(stacked)
    phi = stacked[jnp.argmax(objective)]

    # Joint Gauss-Newton (Levenberg-Marquardt) on all phases and amplitudes: coordinate
    # moves crawl along the valleys that correlated gratings make, and the grid is coarse.
    # (Polishing every start before choosing costs 30% more for no gain.)
    phi, _ = _polish(phi, _amplitudes(phi, p, gram)[0], p, gram, polish)
    amplitude, objective = _amplitudes(phi, p, gram)
    noise = jnp.maximum(energy - objective, 1e-12) / (height * width - 2 * num - 1)
    # Laplace: Fisher information of (phi, A) through c_k = A_k w(phi_k).
    idx = jnp.arange(num)
    jac = _jacobian(phi, amplitude)
    fisher = jnp.einsum("kap,kalb,lbq->pq", jac, gram, jac) / noise
    cov = _solve(fisher + 1e-6 * jnp.eye(2 * num), jnp.eye(2 * num))
    var_phi, var_amp = jnp.diag(cov)[:num], jnp.diag(cov)[num:]
    cov_pa = cov[idx, num + idx]
    var_phi, var_amp = jnp.maximum(var_phi, 1e-12), jnp.maximum(var_amp, 1e-12)
    return GratingFit(
        amplitude=amplitude,
        phase=2 * phi,
        noise=noise,
        phase_std=2 * jnp.sqrt(var_phi),
        amplitude_std=jnp.sqrt(var_amp),
        correlation=cov_pa / jnp.sqrt(var_phi * var_amp),
        projections=p,
        energy=energy,
    )


class ToneSet(NamedTuple):
    """The result of `tone_set` for one waveform (the `num_peaks` strongest peaks)."""

    frequency: Float[Array, " n"]  # Hz
    amplitude: Float[Array, " n"]  # tone amplitude, scalloping-corrected (waveform units)
    phase: Float[Array, " n"]  # of sin(2 pi f t + phase) at the first sample, [0, 2 pi)
    noise: Float[Array, ""]  # noise std per sample, from the band above f_max


def tone_set(
    audio: Float[Array, " samples"],
    num_peaks: int,
    *,
    sample_rate: float | int,
    f_min: float | int,
    f_max: float | int,
) -> ToneSet:
    """The `num_peaks` largest peaks of the Hann-windowed spectrum in `[f_min, f_max]`
    (as `spectral_peaks`), with amplitudes in waveform units and the noise floor.

    A Hann-windowed tone `d` bins off its peak bin loses `sinc(d) / (1 - d^2)` of its
    peak magnitude (up to 15%); the amplitude is corrected for it. The noise std is
    the root mean square spectrum magnitude above `f_max + 100` Hz over `sqrt(sum(w^2))`.
    """
    audio = jax.lax.stop_gradient(audio)
    spectrum, height, index, signed = hann_peaks(
        audio, num_peaks, sample_rate=sample_rate, f_min=f_min, f_max=f_max
    )
    n = audio.shape[0]
    magnitude = jnp.abs(spectrum)
    hz = np.arange(magnitude.shape[0]) * sample_rate / n
    offset = jnp.abs(signed)
    frequency = (index.astype(signed.dtype) + signed) * (sample_rate / n)
    phase = jnp.angle(spectrum[index]) - jnp.pi * signed + jnp.pi / 2
    window_sum = float(np.sum(hann_window(n)))
    scallop = jnp.sinc(offset) / (1 - offset**2)
    amplitude = 2 * height / (window_sum * scallop)
    quiet = np.flatnonzero(hz > f_max + 100.0)
    if quiet.size >= 16:
        # White noise of std sigma has E|X|^2 = sigma^2 sum(w^2) in every bin (a mean,
        # not a median: sorting thousands of bins per clip costs 6x the FFT on a CPU).
        power = jnp.mean(magnitude[quiet[0] : quiet[-1] + 1] ** 2)
        noise = jnp.sqrt(power / float(np.sum(hann_window(n).astype(np.float64) ** 2)))
    else:
        noise = jnp.asarray(0.0, jnp.float32)
    return ToneSet(frequency, amplitude, jnp.mod(phase, 2 * jnp.pi), noise)


def _exchanges(
    c: Float[Array, "K 4"], gram: Float[Array, "K 4 K 4"], projections: Float[Array, "K 4"]
) -> tuple[Float[Array, " P"], Float[Array, " P"], tuple[Float[Array, ""], Float[Array, ""]]]:
    """The numerator `c.p` and denominator `c^T G c` of `grating_log_likelihood`'s
    objective when gratings `k < l` exchange their coefficients, for every pair (in
    `np.triu_indices(K, 1)` order), and those of `c` itself: each pair updated from `c`'s
    own terms in O(16) (grating k moves by `d = c_l - c_k`, grating l by `-d`), not
    recomputed in O((4K)^2)."""
    num = c.shape[0]
    pairs_k, pairs_l = np.triu_indices(num, 1)
    flat = c.reshape(-1)
    gc = (gram.reshape(4 * num, 4 * num) @ flat).reshape(num, 4)
    base = (flat @ projections.reshape(-1), flat @ gc.reshape(-1))
    d = c[pairs_l] - c[pairs_k]
    same_k, same_l = gram[pairs_k, :, pairs_k, :], gram[pairs_l, :, pairs_l, :]
    pair_gram = same_k + same_l - 2 * gram[pairs_k, :, pairs_l, :]  # (P, 4, 4)
    numerator = base[0] + jnp.sum(d * (projections[pairs_k] - projections[pairs_l]), -1)
    denominator = (
        base[1]
        + 2 * jnp.sum(d * (gc[pairs_k] - gc[pairs_l]), -1)
        + jnp.einsum("pa,pab,pb->p", d, pair_gram, d)
    )
    return numerator, denominator, base


#: The noise variance a likelihood assumes is at least this fraction of the image's own
#: variance per pixel (a signal-to-noise ratio of at most 20 dB; see `floored_noise`).
RELATIVE_NOISE_FLOOR = 1e-2


def floored_noise(
    noise: Float[Array, "*batch"], energy: Float[Array, "*batch"], pixels: int
) -> Float[Array, "*batch"]:
    """The residual noise variance per pixel of an image's fit, at least
    `RELATIVE_NOISE_FLOOR` times the image's variance per pixel (`energy`, the centred
    image's squared norm, over `pixels`).

    On a noise-free image (the synthetic data at alignment 1) the residual is rounding
    and the fit's own imperfection, from 1e-15 to 1e-4 of the image's variance: a
    likelihood divided by it is scaled by a number that says nothing about the image,
    and the images of one gallery can no longer be compared (the verifier's audio ->
    image R@1 on 128 items: 0.80 against 0.94 image -> audio). With the floor (20 dB)
    it is 0.96. The floor is below the noise of the alignments the data is trained at
    (the residual is 0.29 to 0.47 of the variance at 0.8, 0.018 to 0.037 at 0.95): it
    changes only nearly noise-free images (from about 0.97 up; at 0.99 audio -> image
    0.94 -> 0.96).

    ```python
    >>> import jax.numpy as jnp
    >>> floored_noise(jnp.asarray([1e-15, 0.5]), jnp.asarray([100.0, 100.0]), 100)
    Array([0.01, 0.5 ], dtype=float32)

    ```
    """
    return jnp.maximum(noise, RELATIVE_NOISE_FLOOR * energy / pixels)


def grating_log_likelihood(
    fit: GratingFit,
    tones: ToneSet,
    frequencies: Sequence[float] = GUIDE_FREQUENCIES,
    *,
    image_size: tuple[int, int],
    sweeps: int = 3,
    swaps: bool = True,
    starts: int = 4,
) -> Float[Array, ""]:
    """Likelihood verification of an (image, audio) pair: the image's Gaussian
    log-likelihood ratio when its K gratings take their phases and relative amplitudes
    from K of the audio's tones (the best assignment found), against its own best fit.

    A tone of phase `p` and amplitude `m` proposes the grating `m cos(f y + p / 2)
    sin(f x + p / 2)` (the guide's audio phase is `2 pi z`, the image's grating phase
    `pi z`; amplitudes are `|z|` in both, up to each signal's gain). For an assignment
    the image's gain is least squares, so the log-likelihood ratio is
    `-(J_fit - (c.p)^2 / (c^T G c)) / (2 noise)` from the image's sufficient statistics.

    `image_size` is the `(height, width)` the fit was made on (its Gram matrix).

    Search: `starts` starts (2 to 4), (a) each grating's nearest tone under the fit's
    Laplace marginals (the gain matched in the mean), (b) gratings added one at a time,
    strongest first (then in index order, in reverse), each taking the tone that best
    explains the image with those already placed; each improved by `sweeps` sweeps of
    single-grating moves (any tone) and, with `swaps`, of pairwise exchanges; the best
    end wins. Parameter-free.
    """
    frequencies = check_frequencies(frequencies)
    if fit.projections.shape != (len(frequencies), 4):
        raise ValueError(
            f"`fit` has projections of shape {fit.projections.shape}, not "
            f"{(len(frequencies), 4)} for the {len(frequencies)} `frequencies`"
        )
    check_int(sweeps, "sweeps", minimum=0)
    check_int(starts, "starts", minimum=2, maximum=4)
    _, gram, _, _ = map(jnp.asarray, grating_tables(*image_size, frequencies, 2))
    num = len(frequencies)
    gram = gram.reshape(4 * num, 4 * num)
    pf = fit.projections.reshape(-1)
    amp_t = jnp.maximum(tones.amplitude, 0.0)
    proposals = amp_t[:, None] * product_weights(tones.phase / 2)  # (n, 4)
    n_tones = proposals.shape[0]

    gram_blocks = gram.reshape(num, 4, num, 4)
    pf_blocks = fit.projections

    def ratio(numerator, denominator):
        return jnp.where(numerator > 0, numerator**2 / (denominator + 1e-12), 0.0)

    def objective(c):  # (..., K, 4)
        flat = c.reshape(c.shape[:-2] + (4 * num,))
        numerator = flat @ pf
        denominator = jnp.einsum("...a,ab,...b->...", flat, gram, flat)
        return ratio(numerator, denominator)

    def replaced(c, k):
        """The objective of `c` (K, 4) with grating `k` given each tone's proposal in
        turn, `(n_tones,)`: updated from `c`'s own terms in O(n 16), not recomputed in
        O(n (4K)^2)."""
        flat = c.reshape(-1)
        gc = (gram @ flat).reshape(num, 4)
        d = proposals - c[k][None, :]  # (n, 4)
        numerator = flat @ pf + d @ pf_blocks[k]
        denominator = (
            flat @ gc.reshape(-1)
            + 2 * d @ gc[k]
            + jnp.einsum("na,ab,nb->n", d, gram_blocks[k, :, k, :], d)
        )
        return ratio(numerator, denominator)

    # (a) nearest tone under the Laplace marginals.
    half = fit.phase / 2
    dphi = _wrap(2 * (half[:, None] - tones.phase[None, :] / 2)) / 2
    gain = jnp.sum(jnp.maximum(fit.amplitude, 0.0)) / (num / n_tones * jnp.sum(amp_t) + 1e-12)
    damp = fit.amplitude[:, None] - gain * amp_t[None, :]
    sp, sa, rho = fit.phase_std[:, None] / 2, fit.amplitude_std[:, None], fit.correlation[:, None]
    q = (dphi / sp) ** 2 - 2 * rho * dphi * damp / (sp * sa) + (damp / sa) ** 2
    q = q / (1 - rho**2 + 1e-6)
    nearest = jnp.argmin(q, axis=1)

    # (b) sequential: gratings placed one at a time (strongest first; with `starts` > 2
    # also in index order and in reverse), the unplaced ones contributing nothing.
    def sequential(order):
        def place(j, carry):
            assign, placed = carry
            k = order[j]
            c = proposals[assign] * placed[:, None]
            return assign.at[k].set(jnp.argmax(replaced(c, k))), placed.at[k].set(1.0)

        init = (jnp.zeros(num, jnp.int32), jnp.zeros(num, jnp.float32))
        return jax.lax.fori_loop(0, num, place, init)[0]

    orders = [jnp.argsort(-fit.amplitude), jnp.arange(num), jnp.arange(num)[::-1]]
    # The starts vmapped: one copy of each loop to compile, not one a start.
    placed = jax.vmap(sequential)(jnp.stack(orders[: max(starts - 1, 1)]))
    initial = jnp.concatenate([nearest.astype(jnp.int32)[None], placed])
    pairs_k, pairs_l = np.triu_indices(num, 1)

    def move(k, assign):
        return assign.at[k].set(jnp.argmax(replaced(proposals[assign], k)))

    def exchange(assign):
        """The best exchange of two gratings' tones, if it improves."""
        numerator, denominator, current = _exchanges(proposals[assign], gram_blocks, pf_blocks)
        values = ratio(numerator, denominator)
        best = jnp.argmax(values)
        first, second = jnp.asarray(pairs_k)[best], jnp.asarray(pairs_l)[best]
        swapped = assign.at[first].set(assign[second]).at[second].set(assign[first])
        return jnp.where(values[best] > ratio(*current), swapped, assign)

    def improve(assign):
        for _ in range(sweeps):
            assign = jax.lax.fori_loop(0, num, move, assign)
            if swaps:
                assign = exchange(assign)
        return assign

    improved = jax.vmap(improve)(initial)
    best = jnp.max(jnp.stack([objective(proposals[a]) for a in improved]))
    fitted = jnp.sum(fit.amplitude * jnp.sum(product_weights(half) * fit.projections, -1))
    noise = floored_noise(fit.noise, fit.energy, image_size[0] * image_size[1])
    return -(fitted - best) / (2 * noise)


class SignPosterior(NamedTuple):
    """`scale_sign_posterior` for one image's K gratings."""

    plus: Float[Array, " K"]  # posterior probability that z_k > 0
    mean: Float[Array, " K"]  # E[z_k]
    magnitude: Float[Array, " K"]  # E[|z_k|]
    log_scale: Float[Array, ""]  # E[log s]


def scale_sign_posterior(fit: GratingFit, *, num_scales: int = 64) -> SignPosterior:
    """What one image says about its signed latents under the guide's renderer.

    The image shows `|z_k|` only up to a common scale (min-max normalisation), `|z_k| =
    s r_k` with `r_k` the fitted amplitudes over their mean, and the phase `2 pi z_k`
    (mod 2 pi) with the fit's Laplace std. For each scale `s` on a log grid (0.05 to 4)
    and each sign, the phase likelihood and the standard-normal prior of `z_k = +- s r_k`
    give the posterior over the scale (with the Jacobian `s^K` of the log grid) and each
    grating's sign given the scale; this returns the marginals. Guide-fitted and
    parameter-free; amplitude noise is ignored (the phase carries the sign).
    """
    amplitude = jnp.maximum(fit.amplitude, 1e-4)
    relative = amplitude / jnp.mean(amplitude)
    num = relative.shape[0]
    scales = jnp.exp(jnp.linspace(np.log(0.05), np.log(4.0), num_scales))
    spread = jnp.maximum(fit.phase_std, 0.05)
    magnitude = scales[:, None] * relative[None, :]  # (S, K)

    def loglik(z):
        d = _wrap(2 * jnp.pi * z - fit.phase[None, :])
        return -0.5 * z**2 - 0.5 * (d / spread[None, :]) ** 2

    plus, minus = loglik(magnitude), loglik(-magnitude)
    both = jnp.logaddexp(plus, minus)
    log_post = jnp.sum(both, axis=1) + num * jnp.log(scales)
    weight = jax.nn.softmax(log_post)
    p_plus = jnp.clip(jnp.exp(plus - both), 0.0, 1.0)  # (S, K)
    return SignPosterior(
        plus=jnp.clip(weight @ p_plus, 0.0, 1.0),
        mean=weight @ ((2 * p_plus - 1) * magnitude),
        magnitude=weight @ magnitude,
        log_scale=weight @ jnp.log(scales),
    )

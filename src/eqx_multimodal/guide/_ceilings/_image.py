"""The image's sufficient statistics, its likelihood of an assignment, and the
fit of its gratings."""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..._validation import check_int, check_key
from .._synthetic import IMAGE_COMPONENTS
from ..towers._signal import grating_products, GUIDE_FREQUENCIES, product_weights
from ._common import _chunked, _x64


# ------------------------------------------------------------------------------------
# Image: the likelihood of the grating latents
# ------------------------------------------------------------------------------------


@functools.cache
def _grating_basis(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per grating `k` (frequency `2 + k`), the 4 centred products of
    `guide.towers.grating_products`, `(32, height * width)` float64, and their Gram
    matrix `(32, 32)`."""
    basis = grating_products(height, width, GUIDE_FREQUENCIES).reshape(4 * IMAGE_COMPONENTS, -1)
    return basis, basis @ basis.T


def _unit_weights(z: Any, xp: Any = np) -> Any:
    """The coefficients of `cos(f y + pi z) sin(f x + pi z)` on the 4 products of
    `_grating_basis`, `(..., 4)`: periodic in `z` with period 1."""
    return product_weights(np.pi * z, xp)


def _grating_weights(z: Any, xp: Any = np) -> Any:
    """`|z| cos(f y + pi z) sin(f x + pi z)` on the products: `(..., 4)`."""
    return xp.abs(z)[..., None] * _unit_weights(z, xp)


class ImageStatistics(NamedTuple):
    """What the image likelihood needs of an image (leading batch axes as the input's).

    - `projections`: `(..., 32)` the centred channel-mean image on the 32 grating
        products of `_grating_basis`.
    - `energy`: `(...)` the squared norm of the centred channel-mean image.
    - `within`: `(...)` the squared deviations of the channels from their mean: pure
        noise, as every channel carries the same pattern.
    - `height`, `width`, `channels`: the image shape.
    """

    projections: np.ndarray
    energy: np.ndarray
    within: np.ndarray
    height: int
    width: int
    channels: int

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def gram(self) -> np.ndarray:
        """The Gram matrix `(32, 32)` of the grating products."""
        return _grating_basis(self.height, self.width)[1]


def image_statistics(images: np.ndarray | Array) -> ImageStatistics:
    """The sufficient statistics of images `(..., height, width, channels)` for the
    grating model of `image_log_likelihood`.

    **Arguments:**

    - `images`: rendered by `image_from_latent`, `(..., height, width, channels)`.

    **Returns:**

    An `ImageStatistics` of float64 NumPy arrays.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim < 3:
        raise ValueError(
            f"`images` must be (..., height, width, channels), got shape {images.shape}"
        )
    height, width, channels = images.shape[-3:]
    basis, _ = _grating_basis(height, width)
    gray = images.mean(axis=-1)
    flat = gray.reshape(*gray.shape[:-2], height * width)
    centred = flat - flat.mean(axis=-1, keepdims=True)
    within = np.sum((images - images.mean(axis=-1, keepdims=True)) ** 2, axis=(-3, -2, -1))
    return ImageStatistics(
        projections=centred @ basis.T,
        energy=np.sum(centred**2, axis=-1),
        within=within,
        height=int(height),
        width=int(width),
        channels=int(channels),
    )


#: The least noise variance the image likelihood assumes, as a share of the image's
#: variance (its squared deviations from the mean, all channels): the residual of a
#: noise-free image (alignment 1, or a clean generated image) is not noise but rounding
#: and the error of the latents read from another modality, and a likelihood scaled by
#: it ranks images by their own rounding. 1e-3 is a signal-to-noise ratio of 30 dB, which
#: the renderer's images pass only above alignment ~0.99 (see `image_log_likelihood`).
NOISE_FLOOR = 1e-3


def _profile_log_likelihood(
    explained: Any, energy: Any, within: Any, channels: int, pixels: int, xp: Any = np
):
    """The Gaussian log-likelihood with offset, gain and noise variance maximised out,
    from the variance of the channel mean that the pattern explains; the noise variance
    at least `NOISE_FLOOR` of the image's."""
    count = channels * pixels
    rss = within + channels * (energy - explained)
    rss = xp.maximum(rss, NOISE_FLOOR * (within + channels * energy))
    rss = xp.maximum(rss, 1e-300)
    return -0.5 * count * (xp.log(2 * np.pi * rss / count) + 1.0)


def _explained(num: Any, den: Any, xp: Any = np):
    """`max(num, 0)^2 / den`: the variance a pattern explains with a gain >= 0."""
    return xp.where(num > 0, num**2 / xp.maximum(den, 1e-300), 0.0)


def _as_statistics(images_or_statistics: Any) -> ImageStatistics:
    if isinstance(images_or_statistics, ImageStatistics):
        return images_or_statistics
    return image_statistics(images_or_statistics)


def image_log_likelihood(
    images: "np.ndarray | Array | ImageStatistics", latents: np.ndarray | Array
) -> np.ndarray:
    """The log-likelihood of images given the latents of their 8 gratings.

    The renderer draws `a P(z) + (1 - a) N(0, 1)` (the same pattern `P` in every
    channel, independent noise per channel) and min-max normalises it, where `P` is the
    min-max normalised sum of the gratings `|z_k| cos((2 + k) y + pi z_k) sin((2 + k) x +
    pi z_k)`. Both normalisations are treated as an unknown offset and gain (exact for
    the pattern's; for the image's, it ignores that the two extreme pixels set them), so
    each channel is `offset + gain P(z) + sigma N(0, 1)`: a Gaussian likelihood, in
    which offset, gain (>= 0) and noise variance are maximised out (the profile
    likelihood, `-(N / 2)(log(2 pi RSS / N) + 1)` for `N` values and the residual sum of
    squares `RSS`). Because the gain is free, only the ratios of the `|z_k|` matter, and
    `z_k` and `z_k + 1` give the same grating up to sign, which the gain's sign constraint
    sees.

    **Arguments:**

    - `images`: images `(..., height, width, channels)`, or their `image_statistics`.
    - `latents`: `(..., 8)`, broadcast against the images' batch shape.

    **Returns:**

    The float64 log-likelihoods, of the broadcast batch shape.
    """
    stats = _as_statistics(images)
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim < 1 or latents.shape[-1] != IMAGE_COMPONENTS:
        raise ValueError(f"`latents` must be (..., {IMAGE_COMPONENTS}), got shape {latents.shape}")
    gram = stats.gram
    w = _grating_weights(latents).reshape(*latents.shape[:-1], 4 * IMAGE_COMPONENTS)
    num = np.sum(w * stats.projections, axis=-1)
    den = np.einsum("...i,ij,...j->...", w, gram, w)
    return np.asarray(
        _profile_log_likelihood(
            _explained(num, den), stats.energy, stats.within, stats.channels, stats.pixels
        )
    )


class ReferenceGratingFit(NamedTuple):
    """A free fit of the 8 gratings to images (leading batch axes as the input's), in
    float64 NumPy: the ceilings' reference, independent of the towers' fit
    (`guide.towers.GratingFit`, in JAX, inside a model), as a scorer must be of what it
    scores.

    - `phase`: `(..., 8)` `frac(z_k)`: the grating's phase is `pi z_k`, which the image
        shows modulo `pi`.
    - `amplitude`: `(..., 8)` the gratings' amplitudes, `>= 0`, in units of the centred
        channel-mean image: proportional to `|z_k|` with one unknown factor per image.
    - `log_likelihood`: `(...)` the profile log-likelihood of the fit (as
        `image_log_likelihood`), an upper bound of `image_log_likelihood` over latents
        up to the search.
    """

    phase: np.ndarray
    amplitude: np.ndarray
    log_likelihood: np.ndarray


def _gram_blocks(stats: ImageStatistics) -> np.ndarray:
    return stats.gram.reshape(IMAGE_COMPONENTS, 4, IMAGE_COMPONENTS, 4)


def _explained_w(w: Array, b4: Array, gram4: Array) -> Array:
    num = jnp.sum(w * b4)
    den = jnp.einsum("km,kmln,ln->", w, gram4, w)
    return _explained(num, den, jnp)


@functools.partial(jax.jit, static_argnames=("num_phases", "sweeps", "restarts"))
def _free_fit(
    projections: Array, gram4: Array, keys: Array, *, num_phases: int, sweeps: int, restarts: int
):
    """Coordinate descent on the 8 gratings' (phase, amplitude >= 0), the phase on a grid
    then refined locally, from several starts; the best fit of each image."""
    k_all = IMAGE_COMPONENTS
    grid = jnp.arange(num_phases, dtype=jnp.float64) / num_phases
    units = _unit_weights(grid, jnp)  # (P, 4)
    diag = jnp.einsum("kmkn->kmn", gram4)
    norms = jnp.einsum("pm,kmn,pn->kp", units, diag, units)
    fine = jnp.linspace(-1.0, 1.0, 33, dtype=jnp.float64) / num_phases

    def descend(b4, w0, order, refine, count):
        def refit(i, w):
            k = order[i % k_all]
            others = jnp.einsum("mln,ln->m", gram4[k], w) - gram4[k, :, k, :] @ w[k]
            target = b4[k] - others
            proj = units @ target
            amp = jnp.maximum(proj, 0.0) / norms[k]
            best = jnp.argmax(amp * proj)
            if not refine:
                return w.at[k].set(amp[best] * units[best])
            u = _unit_weights(grid[best] + fine, jnp)
            p = u @ target
            a = jnp.maximum(p, 0.0) / jnp.einsum("pm,mn,pn->p", u, diag[k], u)
            j = jnp.argmax(a * p)
            return w.at[k].set(a[j] * u[j])

        return jax.lax.fori_loop(0, k_all * count, refit, w0)

    def one(b, key):
        b4 = b.reshape(k_all, 4)
        forward = jnp.arange(k_all)
        beta = jnp.linalg.solve(gram4.reshape(4 * k_all, 4 * k_all), b).reshape(k_all, 4)
        proj = jnp.einsum("pm,km->kp", units, beta)
        best = jnp.argmax(proj, axis=1)
        w_ls = jnp.maximum(proj[jnp.arange(k_all), best], 0.0)[:, None] * units[best]
        zero = jnp.zeros((k_all, 4))
        w0 = jnp.stack([zero, zero, w_ls] + [zero] * restarts)
        orders = jnp.stack(
            [forward, forward[::-1], forward]
            + [jr.permutation(sub, k_all) for sub in jr.split(key, restarts)]
        )
        fits = jax.vmap(lambda w, o: descend(b4, w, o, False, sweeps))(w0, orders)
        explained = jax.vmap(lambda w: _explained_w(w, b4, gram4))(fits)
        w = fits[jnp.argmax(explained)]
        # A last sweep with the phase refined between the grid points.
        w = descend(b4, w, forward, True, 2)
        amplitude = jnp.sqrt(jnp.sum(w * w, axis=1))  # |unit weights| = 1
        phase = jnp.mod(jnp.arctan2(w[:, 2] - w[:, 1], w[:, 0] + w[:, 3]) / (2 * jnp.pi), 1.0)
        return phase, amplitude, _explained_w(w, b4, gram4)

    return jax.vmap(one)(projections, keys)


def fit_image_gratings(
    images: "np.ndarray | Array | ImageStatistics",
    *,
    key: PRNGKeyArray,
    restarts: int = 4,
    sweeps: int = 10,
    num_phases: int = 360,
    chunk: int = 64,
) -> ReferenceGratingFit:
    """Fit the 8 gratings to images with free phases and amplitudes (not tied to one
    latent each): the best an image admits, and where its gratings' phases lie.

    Coordinate descent (each grating in turn set to the best of `num_phases` phases with
    its least-squares amplitude `>= 0`, the others fixed; `sweeps` sweeps) from 3 fixed
    starts (zero with the gratings in order and in reverse, and the projection of the
    unconstrained linear fit) and `restarts` random orders drawn from `key`; the best
    fit, its phases then refined between the grid points.

    **Arguments:**

    - `images`: `(..., height, width, channels)` or their `image_statistics`.
    - `key`: keyword only. The key of the random starts.
    - `restarts`, `sweeps`, `num_phases`, `chunk`: keyword only.

    **Returns:**

    A `ReferenceGratingFit` of float64 NumPy arrays.
    """
    stats = _as_statistics(images)
    key = check_key(key)
    check_int(restarts, "restarts", minimum=0)
    check_int(sweeps, "sweeps")
    check_int(num_phases, "num_phases", minimum=4)
    check_int(chunk, "chunk")
    batch = stats.projections.shape[:-1]
    proj = stats.projections.reshape(-1, 4 * IMAGE_COMPONENTS)
    keys = jr.split(key, max(proj.shape[0], 1))
    with _x64():
        gram4 = jnp.asarray(_gram_blocks(stats))
        phases, amplitudes, explained = _chunked(
            lambda p, k: _free_fit(
                p, gram4, k, num_phases=num_phases, sweeps=sweeps, restarts=restarts
            ),
            [proj, keys],
            chunk,
        )
    phase = phases.reshape(*batch, IMAGE_COMPONENTS)
    amplitude = amplitudes.reshape(*batch, IMAGE_COMPONENTS)
    ll = _profile_log_likelihood(
        explained.reshape(batch),
        stats.energy,
        stats.within,
        stats.channels,
        stats.pixels,
    )
    return ReferenceGratingFit(phase=phase, amplitude=amplitude, log_likelihood=ll)

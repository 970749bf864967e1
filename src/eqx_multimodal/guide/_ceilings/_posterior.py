"""The image's posterior over its signed latents, and a text's likelihood under it."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..._validation import check_int, check_key
from .._synthetic import IMAGE_COMPONENTS
from ._common import _chunked, _x64
from ._image import (
    _as_statistics,
    _explained,
    _gram_blocks,
    _profile_log_likelihood,
    _unit_weights,
    fit_image_gratings,
    image_log_likelihood,
    ImageStatistics,
    ReferenceGratingFit,
)
from ._text import _check_text_args, text_log_likelihood


# ------------------------------------------------------------------------------------
# The image's posterior over its latents, and the text given an image
# ------------------------------------------------------------------------------------


class LatentPosterior(NamedTuple):
    """A discrete posterior over `z_0..z_7` per image (leading batch axes as the input's).

    - `values`: `(..., U, 8)` configurations of the latents.
    - `log_weights`: `(..., U)` their log-probabilities (normalised over the `U`;
        `-inf` pads).
    - `kept`: `(...)` the share of the posterior mass of all the configurations found
        that the `U` hold.
    """

    values: np.ndarray
    log_weights: np.ndarray
    kept: np.ndarray


_LATTICE = np.arange(-5, 5)  # z_k = phase_k + m: |z_k| < 5


@functools.partial(jax.jit, static_argnames=("channels", "pixels", "chains", "sweeps", "burn"))
def _lattice_gibbs(
    phase: Array,
    amplitude: Array,
    projections: Array,
    energy: Array,
    within: Array,
    gram4: Array,
    keys: Array,
    channels: int,
    pixels: int,
    *,
    chains: int,
    sweeps: int,
    burn: int,
):
    """Gibbs sampling of the lattice `z_k = phase_k + m` under the image's profile
    likelihood and the standard-normal prior; returns lattice indices
    `(images, chains * (sweeps - burn), 8)`: the configurations visited."""
    k_all = IMAGE_COMPONENTS
    lattice = jnp.asarray(_LATTICE, jnp.float64)

    def one(ph, amp, b, xx, qw, key):
        units = _unit_weights(ph, jnp)  # (8, 4): the phase fixes the grating's shape
        beta = jnp.einsum("km,km->k", units, b.reshape(k_all, 4))
        q = jnp.einsum("km,kmln,ln->kl", units, gram4, units)
        z = ph[:, None] + lattice[None, :]  # (8, M)
        r = jnp.abs(z)

        def conditional(k, index):
            rk = r[jnp.arange(k_all), index]
            zk = z[jnp.arange(k_all), index]
            qr = q @ rk
            cross = qr[k] - q[k, k] * rk[k]
            num = beta @ rk - beta[k] * rk[k] + r[k] * beta[k]
            den = rk @ qr - 2 * rk[k] * cross - q[k, k] * rk[k] ** 2
            den = den + 2 * r[k] * cross + r[k] ** 2 * q[k, k]
            ll = _profile_log_likelihood(_explained(num, den, jnp), xx, qw, channels, pixels, jnp)
            return ll - 0.5 * (jnp.sum(zk**2) - zk[k] ** 2 + z[k] ** 2)

        # Starts: the fitted amplitudes at several overall scales (the image shows only
        # their ratios), each on its nearest lattice point.
        relative = amp / (jnp.mean(amp) + 1e-300)
        scales = jnp.linspace(0.3, 2.0, chains)
        starts = jnp.argmin(
            jnp.abs(r[None, :, :] - (scales[:, None] * relative[None, :])[:, :, None]), axis=2
        )

        def chain(index, key):
            def sweep(index, key):
                subkeys = jr.split(key, k_all)

                def update(k, index):
                    return index.at[k].set(jr.categorical(subkeys[k], conditional(k, index)))

                index = jax.lax.fori_loop(0, k_all, update, index)
                return index, index

            _, samples = jax.lax.scan(sweep, index, jr.split(key, sweeps))
            return samples[burn:]

        return jax.vmap(chain)(starts, jr.split(key, chains)).reshape(-1, k_all)

    return jax.vmap(one)(phase, amplitude, projections, energy, within, keys)


def image_latent_posterior(
    images: "np.ndarray | Array | ImageStatistics",
    *,
    key: PRNGKeyArray,
    fit: ReferenceGratingFit | None = None,
    chains: int = 16,
    sweeps: int = 40,
    burn: int = 10,
    max_configs: int = 64,
    chunk: int = 64,
) -> LatentPosterior:
    """The posterior of each image's latents `z_0..z_7` given the image alone.

    The image shows each grating's phase `pi z_k` modulo `pi` (its `frac(z_k)`) well
    and its amplitude `|z_k|` only relative to the others, so `z_k` is on the lattice
    `frac(z_k) + m`, `m` an integer, and which `m` (hence the sign of `z_k`) is what
    the amplitudes must decide. The phases are taken from `fit_image_gratings` (fixed:
    their uncertainty is not sampled) and the lattice (`|z_k| < 5`) is sampled by Gibbs
    sampling from `image_log_likelihood` times the standard-normal prior: `chains`
    chains started from the fitted amplitude ratios at several overall scales,
    `sweeps` sweeps each, the first `burn` discarded. The `max_configs` most frequent
    configurations are kept, weighted by their frequency.

    **Arguments:**

    - `images`: `(..., height, width, channels)` or their `image_statistics`.
    - `key`: keyword only. The key of the sampler (and of `fit_image_gratings` if `fit`
        is not given).
    - `fit`: keyword only. A `ReferenceGratingFit` of the same images, if already computed.
    - `chains`, `sweeps`, `burn`, `max_configs`, `chunk`: keyword only.

    **Returns:**

    A `LatentPosterior`.
    """
    stats = _as_statistics(images)
    key = check_key(key)
    check_int(chains, "chains")
    check_int(sweeps, "sweeps")
    check_int(burn, "burn", minimum=0)
    if burn >= sweeps:
        raise ValueError(f"`burn` must be less than `sweeps`={sweeps}, got {burn}")
    check_int(max_configs, "max_configs")
    fit_key, sample_key = jr.split(key)
    if fit is None:
        fit = fit_image_gratings(stats, key=fit_key)
    batch = stats.projections.shape[:-1]
    count = int(np.prod(batch))
    flat = lambda x, *tail: np.asarray(x).reshape(count, *tail)  # noqa: E731
    keys = jr.split(sample_key, max(count, 1))
    with _x64():
        gram4 = jnp.asarray(_gram_blocks(stats))
        (samples,) = _chunked(
            lambda ph, amp, proj, en, wi, k: _lattice_gibbs(
                ph,
                amp,
                proj,
                en,
                wi,
                gram4,
                k,
                stats.channels,
                stats.pixels,
                chains=chains,
                sweeps=sweeps,
                burn=burn,
            ),
            [
                flat(fit.phase, IMAGE_COMPONENTS),
                flat(fit.amplitude, IMAGE_COMPONENTS),
                flat(stats.projections, 4 * IMAGE_COMPONENTS),
                flat(stats.energy),
                flat(stats.within),
                keys,
            ],
            chunk,
        )
    phases = flat(fit.phase, IMAGE_COMPONENTS)
    projections = flat(stats.projections, 4 * IMAGE_COMPONENTS)
    energy, within = flat(stats.energy), flat(stats.within)
    base = len(_LATTICE)
    codes = samples @ (base ** np.arange(IMAGE_COMPONENTS))
    values = np.zeros((count, max_configs, IMAGE_COMPONENTS))
    log_weights = np.full((count, max_configs), -np.inf)
    kept = np.zeros(count)
    for i in range(count):
        _, first = np.unique(codes[i], return_index=True)
        found = phases[i][None, :] + _LATTICE[samples[i, first]]
        one = ImageStatistics(
            projections[i], energy[i], within[i], stats.height, stats.width, stats.channels
        )
        log_post = image_log_likelihood(one, found) - 0.5 * np.sum(found**2, axis=1)
        order = np.argsort(-log_post, kind="stable")[:max_configs]
        total = np.logaddexp.reduce(log_post)
        top = np.logaddexp.reduce(log_post[order])
        values[i, : order.size] = found[order]
        log_weights[i, : order.size] = log_post[order] - top
        kept[i] = min(1.0, float(np.exp(top - total)))
    return LatentPosterior(
        values=values.reshape(*batch, max_configs, IMAGE_COMPONENTS),
        log_weights=log_weights.reshape(*batch, max_configs),
        kept=kept.reshape(batch),
    )


def text_log_likelihood_given_image(
    tokens: np.ndarray | Array,
    posterior: LatentPosterior,
    alignment: float,
    *,
    vocab_size: int = 1000,
    latent_dim: int = 32,
) -> np.ndarray:
    """The log-probability of texts given an image: `log sum_u w_u p(text | z_0..7 =
    values_u)` over the image's `LatentPosterior`, the other latents integrated out as
    in `text_log_likelihood`.

    **Arguments:**

    - `tokens`: `(..., L)` integer tokens.
    - `posterior`: `image_latent_posterior` of images whose batch shape broadcasts
        against the texts'.
    - `alignment`: in [0, 1].
    - `vocab_size`, `latent_dim`: keyword only, as rendered.

    **Returns:**

    float64 log-probabilities of the broadcast batch shape.
    """
    tokens, a = _check_text_args(tokens, alignment, vocab_size, latent_dim)
    values = np.asarray(posterior.values, dtype=np.float64)
    log_w = np.asarray(posterior.log_weights, dtype=np.float64)
    terms = text_log_likelihood(
        np.asarray(tokens)[..., None, :],
        values,
        a,
        vocab_size=vocab_size,
        latent_dim=latent_dim,
    )
    x = terms + log_w
    peak = np.max(x, axis=-1)
    return np.asarray(peak + np.log(np.sum(np.exp(x - peak[..., None]), axis=-1)))

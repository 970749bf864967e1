"""Does one image determine the signs of its latents? A joint fit of all 8 latents.

Text speaks about the signed `z_k` (a token of group k has logit `alignment z_k`); an
image shows `z_0..z_7` as gratings `|z_k| cos(f_k y + pi z_k) sin(f_k x + pi z_k)`, min-max
normalised. This script fits the exact generating model, `c + g sum_k |z_k| cos(..)
sin(..)` with the 8 latents, a gain and an offset, to the channel-mean image (i.i.d.
Gaussian noise, so least squares is the likelihood), on held-out images at alignment
0.8 by default:

- `Levenberg-Marquardt from the truth`: least squares (no prior) started at the true
  latent. The fit stays there: how sharply the image pins the latent *locally*.
- `posterior mode nearest the truth`: greedy sweeps (each latent in turn set to the best
  of a grid of 801 values in [-4, 4], the gain refitted by least squares after each
  sweep) from the true latent, on the posterior energy: squared residual / (2 noise) +
  |z|^2 / 2 (a standard-normal prior), the noise from the residual of a linear fit.
- `annealed search`: a search that does not know the truth: the same sweeps, but each
  latent drawn from its conditional posterior at a temperature annealed from 30 to 1,
  then 3 greedy sweeps; 8 chains from z = 0 with first gains spread over the observed
  range; the chain of lowest energy wins.

It prints how often the search ends *more probable* (lower energy) than the mode
nearest the truth, and how right its signs are on those images. Where that is common,
the posterior has other modes, with other signs, as probable as the truth's: no
estimator can read the signs off such an image, it can only weigh the modes. (At
alignment 1 there is no noise and the energies mean nothing.)

The text->image columns score centred token counts against each estimate (a dot
product, 1000-way).

    python benchmarks/image_posterior.py [--alignment 0.8] [--images 1000] [--seed 3]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from text_information import group_counts  # the script beside this one

from eqx_multimodal.guide import image_pattern, synthetic_batch, SyntheticConfig
from eqx_multimodal.guide.towers._signal import (
    _grating_products,
    GUIDE_FREQUENCIES,
    product_weights as _product_weights,
)
from eqx_multimodal.metrics import retrieval_metrics_from_scores


SIZE = 32
GRID = jnp.linspace(-4.0, 4.0, 801)


def model(params):
    """`c + g image_pattern(z)`: the data core's pattern, min-max normalised, under a free
    gain and offset (the same family as a raw pattern with its own); params = (z, g, c)."""
    return params[9] + params[8] * image_pattern(params[:8], SIZE, SIZE)


def fit_from(z, gray, iterations=10):
    """Levenberg-Marquardt on (z, g, c) from `z`, the gain and offset by least squares."""
    shape = image_pattern(z, SIZE, SIZE).ravel()
    design = jnp.stack([shape, jnp.ones_like(shape)], axis=1)
    gc = jnp.linalg.lstsq(design, gray.ravel())[0]

    def residual(p):
        return (model(p) - gray).ravel()

    def body(carry, _):
        p, damping = carry
        r, jac = residual(p), jax.jacfwd(residual)(p)
        hess = jac.T @ jac
        step = jnp.linalg.solve(hess + damping * jnp.diag(jnp.diag(hess) + 1e-6), jac.T @ r)
        better = jnp.sum(residual(p - step) ** 2) < jnp.sum(r**2)
        return (jnp.where(better, p - step, p), jnp.where(better, damping / 3, damping * 4)), None

    (p, _), _ = jax.lax.scan(body, (jnp.concatenate([z, gc]), 1e-2), None, length=iterations)
    return p[:8]


def _tables():
    """Per grid value `z`: the 4 product weights of `|z| cos(f y + pi z) sin(f x + pi z)`."""
    basis, _ = _grating_products(SIZE, SIZE, GUIDE_FREQUENCIES)
    basis = jnp.asarray(basis)  # (8, 4, pixels), centred
    grid = np.asarray(GRID)
    weights = jnp.asarray(_product_weights(np.pi * grid) * np.abs(grid)[:, None], jnp.float32)
    flat = basis.reshape(32, -1)
    gram = (flat @ flat.T).reshape(8, 4, 8, 4)
    norms = jnp.einsum("zm,kmkn,zn->kz", weights, gram, weights)
    return flat, gram, weights, norms


class Posterior:
    """The posterior energy of one image's latents on the grid, from sufficient
    statistics: squared residual / (2 noise) + |z|^2 / 2, the gain refitted by least
    squares after each sweep (clipped to [0.005, 0.5])."""

    def __init__(self, gray):
        self.flat, self.gram, self.weights, self.norms = _tables()
        centred = (gray - gray.mean()).ravel()
        self.proj, self.total = self.flat @ centred, centred @ centred
        # Noise variance from the residual of the (nearly unregularised) linear fit.
        gram = self.gram.reshape(32, 32)
        beta = jnp.linalg.solve(gram + 1e-3 * jnp.eye(32), self.proj)
        self.noise = (self.total - self.proj @ beta) / (centred.size - 33)

    def gain(self, index):
        w = self.weights[index].reshape(32)
        g = self.proj @ w / (w @ self.gram.reshape(32, 32) @ w + 1e-9)
        return jnp.clip(g, 0.005, 0.5)

    def energy(self, index):
        """Squared residual / (2 noise) + |z|^2 / 2, the gain fitted to `index`."""
        w, g = self.weights[index].reshape(32), self.gain(index)
        residual = self.total - 2 * g * self.proj @ w + g * g * w @ self.gram.reshape(32, 32) @ w
        return residual / (2 * self.noise) + 0.5 * jnp.sum(GRID[index] ** 2)

    def run(self, index, g, key, temperatures, window=None):
        """Gibbs sweeps over the 8 latents at the given temperatures (0: greedy), from
        the grid indices `index` and the gain `g`, refitted after each sweep; with a
        `window`, each latent moves at most that far from where it is."""
        proj4 = self.proj.reshape(8, 4)

        def update(k, carry):
            index, g, key, temperature = carry
            w = self.weights[index]
            others = jnp.einsum("ajb,jb->a", self.gram[k], w) - self.gram[k, :, k, :] @ w[k]
            e = -2 * g * self.weights @ (proj4[k] - g * others) + g * g * self.norms[k]
            e = e / (2 * self.noise) + 0.5 * GRID**2
            if window is not None:
                e = jnp.where(jnp.abs(GRID - GRID[index[k]]) <= window, e, jnp.inf)
            key, sub = jr.split(key)
            sample = jr.categorical(sub, -e / jnp.maximum(temperature, 1e-6))
            new = jnp.where(temperature > 0, sample, jnp.argmin(e))
            return index.at[k].set(new), g, key, temperature

        def sweep(carry, temperature):
            index, g, key = carry
            index, g, key, _ = jax.lax.fori_loop(0, 8, update, (index, g, key, temperature))
            return (index, self.gain(index), key), None

        (index, _, _), _ = jax.lax.scan(sweep, (index, g, key), temperatures)
        return index


def annealed_search(posterior, key, chains=8, sweeps=20, hot=30.0):
    """The best of `chains` chains from z = 0, annealed from `hot` to 1 and finished
    greedily, with first gains spread over the range seen in the data."""
    temperatures = jnp.concatenate([hot ** (1 - jnp.arange(sweeps) / (sweeps - 1)), jnp.zeros(3)])
    gains = jnp.exp(jnp.linspace(jnp.log(0.03), jnp.log(0.09), chains))
    start = jnp.full(8, jnp.argmin(jnp.abs(GRID)))

    def chain(g, key):
        return posterior.run(start, g, key, temperatures)

    index = jax.vmap(chain)(gains, jr.split(key, chains))
    energies = jax.vmap(posterior.energy)(index)
    return index[jnp.argmin(energies)]


def descend_from(posterior, z, window, sweeps=5):
    """Greedy sweeps from the true latent: with a small `window`, to the posterior mode
    the truth sits in; with none, each latent may jump anywhere on the grid."""
    index = jnp.argmin(jnp.abs(GRID[None, :] - z[:, None]), axis=1)
    g = posterior.gain(index)
    return posterior.run(index, g, jr.key(0), jnp.zeros(sweeps), window=window)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alignment", type=float, default=0.8)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    config = SyntheticConfig(modalities=["image", "text"], alignment=args.alignment)
    batch = synthetic_batch(jnp.arange(args.images), key=jr.key(args.seed), config=config)
    gray = batch["image"].mean(-1)
    z = batch["latent"][:, :8]
    counts = group_counts(batch["text"], config.latent_dim)
    counts = (counts - counts.mean(0))[:, :8]

    start = time.perf_counter()
    local = np.asarray(jax.jit(jax.vmap(fit_from))(z, gray))

    def search(gray, key, z):
        posterior = Posterior(gray)
        found = (
            descend_from(posterior, z, window=0.1),
            descend_from(posterior, z, window=None),
            annealed_search(posterior, key),
        )
        return [GRID[i] for i in found], [posterior.energy(i) for i in found]

    keys = jr.split(jr.key(args.seed + 1), args.images)
    (mode, greedy, found), energies = jax.jit(jax.vmap(search))(gray, keys, z)
    mode, greedy, found = np.asarray(mode), np.asarray(greedy), np.asarray(found)
    e_mode, e_greedy, e_found = map(np.asarray, energies)
    z = np.asarray(z)
    print(
        f"alignment {args.alignment:g}, {args.images} images, seed {args.seed} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print(
        "| estimate of z_0..7 | sign right | rmse | more probable than the truth's mode "
        "| text->image R@1 / R@10 |"
    )
    print("|---|---|---|---|---|")
    for name, estimate, beats in (
        ("true latent", z, None),
        ("Levenberg-Marquardt from the truth (no prior)", local, None),
        ("the truth's mode (greedy, each latent within 0.1)", mode, None),
        ("greedy from the truth, jumps allowed", greedy, e_greedy < e_mode - 1e-3),
        ("annealed search, not told the truth", found, e_found < e_mode - 1e-3),
    ):
        m = retrieval_metrics_from_scores(counts @ estimate.T)
        rmse = np.sqrt(np.mean((estimate - z) ** 2))
        share = "-" if beats is None else f"{beats.mean():.0%} of images"
        print(
            f"| {name} | {sign_right(estimate, z):.2f} | {rmse:.2f} | {share} | "
            f"{m['recall@1']:.3f} / {m['recall@10']:.3f} |"
        )
    either = (e_greedy < e_mode - 1e-3) | (e_found < e_mode - 1e-3)
    print(f"either finds a more probable fit than the truth's mode: {either.mean():.0%} of images")


def sign_right(estimate, z):
    """The fraction of latents whose sign the estimate gets right (0 counts as wrong)."""
    return float(np.mean(np.sign(estimate) == np.sign(z))) if z.size else float("nan")


if __name__ == "__main__":
    main()

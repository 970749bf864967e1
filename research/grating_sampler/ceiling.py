"""The set decoder's ceiling: images rendered from the true latents' 10 gratings (the
guide's amplitude |z| and phase pi z on the 4 products), 8 of them drawn at random for
the 8 gratings, scored as `sampler.py` scores its samples (500 held-out clips); and how
far the plain least-squares targets are from the true gratings.

    python research/grating_sampler/ceiling.py RUN
"""

import sys

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from eqx_multimodal.cli._data_options import held_out_gallery
from eqx_multimodal.guide import reference_coherence
from eqx_multimodal.guide.towers import GUIDE_FREQUENCIES
from eqx_multimodal.guide.towers._fits import grating_tables, product_weights, project_gratings
from eqx_multimodal.training import load_run


config, state = load_run(sys.argv[1] if len(sys.argv) > 1 else "runs/generation")
data = config.data
basis, gram, _, _ = map(jnp.asarray, grating_tables(32, 32, GUIDE_FREQUENCIES, 2))
K = 8
gram2 = gram.reshape(32, 32)


def coeffs(img):
    p, _ = project_gratings(img.mean(-1))
    c = jnp.linalg.solve(gram2, p.reshape(-1)).reshape(K, 4)
    return c / jnp.sqrt(jnp.mean(c**2))


def render(c):
    img = (basis.T @ c.reshape(-1)).reshape(32, 32)
    img = (img - img.min()) / (img.max() - img.min() + 1e-8)
    return jnp.repeat(img[:, :, None], 3, -1)


test = held_out_gallery(data, 500, 0)
print({k: np.shape(v) for k, v in test.items()})
z = jnp.asarray(test["latent"])[:, :10]
cand = jnp.abs(z)[..., None] * product_weights(jnp.pi * z)
cand = cand / jnp.sqrt(jnp.mean(cand[:, :8] ** 2, axis=(1, 2)))[:, None, None]
realc = jax.vmap(coeffs)(jnp.asarray(test["image"]))
print(
    "err true-order",
    float(jnp.mean(jnp.sum((cand[:, :8] - realc) ** 2, (1, 2)))),
    "target energy",
    float(jnp.mean(jnp.sum(realc**2, (1, 2)))),
)
for name, order in [("true", lambda k: jnp.arange(10)), ("perm", lambda k: jr.permutation(k, 10))]:
    cs = jax.vmap(lambda c, k: c[order(k)[:8]])(cand, jr.split(jr.key(5), 500))
    made = jax.vmap(render)(cs)
    r = reference_coherence(
        np.asarray(made),
        np.asarray(test["audio"]),
        source="audio",
        target="image",
        config=data,
        key=jr.key(7),
        real_targets=test["image"],
    )
    print(name, r, flush=True)

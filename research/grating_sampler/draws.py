"""Why does the set decoder's greedy image beat its sample (issue 24)? On N held-out
clips of a generation run, the image generator's heads from the audio alone: how peaked
each grating's categorical is, how much mass falls outside the greedy set of
candidates, and the reference coherence of images drawn in different ways.

    python research/grating_sampler/draws.py RUN [N]
"""

import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from _scoring import audio_to_image

from eqx_multimodal.cli._data_options import held_out_gallery
from eqx_multimodal.guide.towers._set_decoder import _draw
from eqx_multimodal.training import generative_model, load_run


RUN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
config, state = load_run(RUN)
model = generative_model(state)
items = held_out_gallery(config.data, N, 0)
generator = model.generators.generator("image")
decoder = generator.decoder


@eqx.filter_jit
def heads(audio):
    def one(clip):
        latent = model.latent.embed("audio", clip)
        stacked, mask = model.generators.stack("image", {"audio": latent})
        condition = generator.condition(stacked, mask)
        return decoder.heads(jnp.concatenate([condition, jnp.zeros(generator.z_dim)]))

    return jax.vmap(one)(audio)


candidates, logits = [], []
for start in range(0, N, 250):
    c, g = heads(jnp.asarray(items["audio"][start : start + 250]))
    candidates.append(np.asarray(c))
    logits.append(np.asarray(g))
candidates, logits = np.concatenate(candidates), np.concatenate(logits)
probs = np.asarray(jax.nn.softmax(logits, axis=-1))
greedy = np.asarray(jax.vmap(lambda g: _draw(g, None, True, 1.0))(jnp.asarray(logits)))
in_set = np.zeros_like(probs[:, 0, :], bool)
np.put_along_axis(in_set, greedy, True, axis=1)
print("row max prob: mean", probs.max(-1).mean().round(3))
print(
    "row entropy (nats): mean",
    (-(probs * np.log(probs + 1e-12)).sum(-1)).mean().round(3),
    "uniform over 8:",
    np.log(8).round(3),
    "over 10:",
    np.log(10).round(3),
)
print(
    "mass on the 2 candidates outside the greedy set: mean",
    (probs * ~in_set[:, None, :]).sum(-1).mean().round(3),
)
print("first row's probs, clip 0:", probs[0, 0].round(2))


def score(images):
    return audio_to_image(images, items, config.data)


render = jax.jit(jax.vmap(lambda c, a: decoder.render(c[a])))


def images(assignment):
    return np.asarray(render(jnp.asarray(candidates), jnp.asarray(assignment)))


keys = jr.split(jr.key(1), N)
sampled = np.asarray(jax.vmap(lambda g, k: _draw(g, k, False, 1.0))(jnp.asarray(logits), keys))
rng = np.random.default_rng(0)
permuted = np.stack([g[rng.permutation(len(g))] for g in greedy])
# The greedy set's candidates with the sampled draw's order of rows: rows that sampled an
# outside candidate take the greedy set's left-over ones.
print("outside picks per clip (T=1):", (~np.take_along_axis(in_set, sampled, 1)).sum(1).mean())
print("greedy", score(images(greedy)), flush=True)
print("T=1", score(images(sampled)), flush=True)
print("greedy set, random order", score(images(permuted)), flush=True)

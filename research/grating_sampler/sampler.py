"""Can a sampling image decoder make, from a clip's shared latent, an image that the
guide's observation-only scorers tie back to its clip (issue 24's synthetic target,
audio->image reference coherence R@10 >= 0.5)? An autoregressive mixture density over
the 8 gratings' least-squares coefficients (`(8, 4)`, RMS-normalised), rendered by the
grating basis and min-max normalised, trained on the frozen latents of a default
generation run. See README.md for the numbers.

Or one set of candidate gratings shared by the 8 slots, each slot a categorical over
them, drawn without replacement at sampling time (a valid assignment by construction).
Or (`set`) 10 candidates trained by a one-to-one matching of the image's 8 gratings to
them (scipy's Hungarian algorithm), 8 of them drawn at random for a sample; RIDGE > 0
regularises the least-squares targets (see README.md: without it they are mostly noise).

    python research/grating_sampler/sampler.py TRAIN STEPS COMPONENTS SOURCE RUN DECODER RIDGE
    SOURCE: audio (the run's audio latent) or oracle (the clip's tone set, observed)
    DECODER: ar (the autoregressive mixture), shared (the shared candidates) or set
    RIDGE: the targets' ridge (default 0, plain least squares)
"""

import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from eqx_multimodal.cli._data_options import held_out_gallery
from eqx_multimodal.guide import reference_coherence, SyntheticDataset
from eqx_multimodal.guide.towers import GUIDE_FREQUENCIES
from eqx_multimodal.guide.towers._fits import grating_tables, project_gratings, tone_set
from eqx_multimodal.nn import matching
from eqx_multimodal.training import load_run


t0 = time.time()
NTR = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
M = int(sys.argv[3]) if len(sys.argv) > 3 else 16
SRC = sys.argv[4] if len(sys.argv) > 4 else "audio"
RUN = sys.argv[5] if len(sys.argv) > 5 else "runs/generation"
DECODER = sys.argv[6] if len(sys.argv) > 6 else "ar"
config, state = load_run(RUN)
model = state.model
data = config.data
basis, gram, _, _ = map(jnp.asarray, grating_tables(32, 32, GUIDE_FREQUENCIES, 2))
K = 8
gram2 = gram.reshape(32, 32)


RIDGE = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0


def coeffs(img):
    """The image's (ridge) least-squares coefficients on the gratings' products. The
    plain solve (RIDGE 0) is ill-conditioned: the Gram matrix's smallest eigenvalues are
    0.0017 against 703, and its coefficients are dominated by noise in those directions."""
    gray = img.mean(-1)
    p, _ = project_gratings(gray)
    c = jnp.linalg.solve(gram2 + RIDGE * jnp.eye(4 * K), p.reshape(-1)).reshape(K, 4)
    return c / jnp.sqrt(jnp.mean(c**2))


def render(c):
    flat = basis.T @ c.reshape(-1)
    img = flat.reshape(32, 32)
    img = (img - img.min()) / (img.max() - img.min() + 1e-8)
    return jnp.repeat(img[:, :, None], 3, -1)


def tone_feats(a):
    t = tone_set(a, 10, sample_rate=16000, f_min=80.0, f_max=2000.0)
    order = jnp.argsort(t.frequency)
    f = t.frequency[order]
    am = t.amplitude[order]
    ph = t.phase[order]
    return jnp.concatenate([(f - 1000) / 600, am / jnp.max(am), jnp.cos(ph), jnp.sin(ph)])


ORACLE = SRC == "oracle"
if ORACLE:
    SRC = "audio"
embed = eqx.filter_jit(jax.vmap(tone_feats if ORACLE else (lambda x: model.embed(SRC, x))))


def items_of(n, key):
    ds = SyntheticDataset(data, n, key=key).materialise(256)
    return {k: np.asarray(v) for k, v in ds[:].items()}


lat, tgt = [], []
for i in range(NTR // 1024):
    it = items_of(1024, jr.key(1000 + i))
    lat.append(np.asarray(embed(jnp.asarray(it[SRC]))))
    tgt.append(np.asarray(jax.vmap(coeffs)(jnp.asarray(it["image"]))))
lat = np.concatenate(lat)
tgt = np.concatenate(tgt)
print("data", lat.shape, tgt.shape, time.time() - t0, flush=True)
test = held_out_gallery(data, 500, 0)
tlat = embed(jnp.asarray(test[SRC]))
# sanity: render of real coefficients
realc = jax.vmap(coeffs)(jnp.asarray(test["image"]))


class ARMixture(eqx.Module):
    net: eqx.nn.MLP
    M: int = eqx.field(static=True)

    def __init__(self, d, M, key):
        self.M = M
        self.net = eqx.nn.MLP(d + K * 4 + K, M * 9, 512, 3, activation=jax.nn.gelu, key=key)

    def params(self, cond, prev, k):
        mask = (jnp.arange(K) < k)[:, None]
        x = jnp.concatenate([cond, (prev * mask).reshape(-1), jax.nn.one_hot(k, K)])
        out = self.net(x)
        logit = out[: self.M]
        mu = out[self.M : 5 * self.M].reshape(self.M, 4)
        ls = jnp.clip(out[5 * self.M :].reshape(self.M, 4), -6, 2)
        return logit, mu, ls

    def nll(self, cond, c):
        def one(k):
            logit, mu, ls = self.params(cond, c, k)
            lp = -0.5 * jnp.sum(((c[k] - mu) / jnp.exp(ls)) ** 2 + 2 * ls + jnp.log(2 * jnp.pi), -1)
            return -jax.nn.logsumexp(jax.nn.log_softmax(logit) + lp)

        return jnp.sum(jax.vmap(one)(jnp.arange(K)))

    def sample(self, cond, key, greedy=False, temp=1.0):
        def step(c, inp):
            k, kk = inp
            logit, mu, ls = self.params(cond, c, k)
            k1, k2 = jr.split(kk)
            m = jnp.argmax(logit) if greedy else jr.categorical(k1, logit / temp)
            v = mu[m] if greedy else mu[m] + temp * jnp.exp(ls[m]) * jr.normal(k2, (4,))
            return c.at[k].set(v), None

        c, _ = jax.lax.scan(step, jnp.zeros((K, 4)), (jnp.arange(K), jr.split(key, K)))
        return c


class SharedCandidates(eqx.Module):
    cand: eqx.nn.MLP
    slot: eqx.nn.MLP
    M: int = eqx.field(static=True)

    def __init__(self, d, M, key):
        self.M = M
        k1, k2 = jr.split(key)
        self.cand = eqx.nn.MLP(d, M * 8, 512, 2, activation=jax.nn.gelu, key=k1)
        self.slot = eqx.nn.MLP(d, K * M, 256, 2, activation=jax.nn.gelu, key=k2)

    def params(self, cond):
        out = self.cand(cond)
        mu = out[: 4 * self.M].reshape(self.M, 4)
        ls = jnp.clip(out[4 * self.M :].reshape(self.M, 4), -6, 2)
        logits = self.slot(cond).reshape(K, self.M)
        return logits, mu, ls

    def nll(self, cond, c):
        logits, mu, ls = self.params(cond)
        lp = -0.5 * jnp.sum(
            ((c[:, None] - mu[None]) / jnp.exp(ls)[None]) ** 2 + 2 * ls[None] + jnp.log(2 * jnp.pi),
            -1,
        )  # K M
        return -jnp.sum(jax.nn.logsumexp(jax.nn.log_softmax(logits, -1) + lp, -1))

    def sample(self, cond, key, greedy=False, temp=1.0):
        logits, mu, ls = self.params(cond)

        def step(used, inp):
            k, kk = inp
            free = jnp.where(used, -jnp.inf, logits[k])
            k1, k2 = jr.split(kk)
            m = jnp.argmax(free) if greedy else jr.categorical(k1, free / temp)
            v = mu[m] if greedy else mu[m] + temp * jnp.exp(ls[m]) * jr.normal(k2, (4,))
            return used.at[m].set(True), v

        _, c = jax.lax.scan(step, jnp.zeros(self.M, bool), (jnp.arange(K), jr.split(key, K)))
        return c


class SetCandidates(eqx.Module):
    """M candidate gratings (coefficient 4-vectors) from the latent, trained by a
    one-to-one matching of the image's 8 gratings to them; a sample places 8 of them,
    drawn without replacement, on the gratings (a valid assignment by construction)."""

    net: eqx.nn.MLP
    M: int = eqx.field(static=True)

    def __init__(self, d, M, key):
        self.M = M
        self.net = eqx.nn.MLP(d, M * 4, 512, 3, activation=jax.nn.gelu, key=key)

    def nll(self, cond, c):
        cand = self.net(cond).reshape(self.M, 4)
        cost = jnp.sum((c[:, None] - cand[None]) ** 2, -1)  # K M
        match = matching(cost)
        return jnp.sum(cost[jnp.arange(K), match])

    def sample(self, cond, key, greedy=False, temp=1.0):
        cand = self.net(cond).reshape(self.M, 4)
        order = jnp.arange(self.M) if greedy else jr.permutation(key, self.M)
        return cand[order[:K]]


net = {"ar": ARMixture, "shared": SharedCandidates, "set": SetCandidates}[DECODER](
    lat.shape[1], M, jr.key(0)
)
sched = optax.warmup_cosine_decay_schedule(0, 1e-3, 100, STEPS)
opt = optax.adamw(sched, weight_decay=1e-4)
st = opt.init(eqx.filter(net, eqx.is_array))


@eqx.filter_jit
def update(net, st, x, y):
    loss, g = eqx.filter_value_and_grad(lambda n: jnp.mean(jax.vmap(n.nll)(x, y)))(net)
    u, st = opt.update(g, st, eqx.filter(net, eqx.is_array))
    return eqx.apply_updates(net, u), st, loss


rng = np.random.default_rng(0)
for s in range(STEPS):
    idx = rng.integers(0, len(lat), 256)
    net, st, loss = update(net, st, jnp.asarray(lat[idx]), jnp.asarray(tgt[idx]))
    if s % 500 == 0 or s == STEPS - 1:
        tl = jnp.mean(jax.vmap(net.nll)(tlat, realc))
        print(s, float(loss), "test", float(tl), time.time() - t0, flush=True)
N = 500
for mode in ["real", "sample", "greedy"]:
    if mode == "real":
        made = jax.vmap(render)(realc)
    else:
        cs = jax.vmap(lambda c, k: net.sample(c, k, greedy=(mode == "greedy")))(
            tlat, jr.split(jr.key(5), N)
        )
        made = jax.vmap(render)(cs)
    r = reference_coherence(
        np.asarray(made),
        np.asarray(test[SRC]),
        source=SRC,
        target="image",
        config=data,
        key=jr.key(7),
        real_targets=test["image"],
    )
    print(mode, r, time.time() - t0, flush=True)

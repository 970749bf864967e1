import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats
from hypothesis import given

import eqx_multimodal as em
from eqx_multimodal import testing
from eqx_multimodal._validation import seed_key
from eqx_multimodal.guide import _formulas as ref, alignment_dependence
from eqx_multimodal.guide._synthetic import audio_tone, token_logits

from .helpers import tree_allclose, tree_equal


SMALL = dict(image_shape=(8, 6, 2), vocab_size=40, seq_length=12, sample_rate=4000, duration=0.025)


@pytest.mark.slow
@given(config=testing.synthetic_configs(), seed=testing.seeds(), size=st.sampled_from([1, 3]))
def test_shapes_dtypes_ranges(config, seed, size):
    batch = em.synthetic_batch(jnp.arange(size), key=seed_key(seed), config=config)
    assert list(batch) == [*config.modalities, "alignment_score", "latent"]
    assert batch["latent"].shape == (size, config.latent_dim)
    assert batch["latent"].dtype == jnp.float32
    np.testing.assert_array_equal(batch["alignment_score"], np.full(size, config.alignment))
    if "image" in batch:
        image = batch["image"]
        assert image.shape == (size, *config.image_shape) and image.dtype == jnp.float32
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    if "text" in batch:
        text = batch["text"]
        assert text.shape == (size, config.seq_length) and text.dtype == jnp.int32
        assert int(text.min()) >= 0 and int(text.max()) < config.vocab_size
    if "audio" in batch:
        audio = batch["audio"]
        assert audio.shape == (size, config.num_audio_samples) and audio.dtype == jnp.float32
        assert float(jnp.abs(audio).max()) <= 1.0 + 1e-6
    for value in batch.values():
        assert bool(jnp.all(jnp.isfinite(value)))


def test_deterministic_and_key_dependent():
    config = em.SyntheticConfig(**SMALL)
    a = em.synthetic_batch(jnp.arange(4), key=jr.key(0), config=config)
    b = em.synthetic_batch(jnp.arange(4), key=jr.key(0), config=config)
    c = em.synthetic_batch(jnp.arange(4), key=jr.key(1), config=config)
    assert tree_equal(a, b)
    for name in ("image", "text", "audio", "latent"):
        assert not np.array_equal(a[name], c[name]), name
    # Different items of one key differ too (no fixed noise).
    for name in ("image", "text", "audio", "latent"):
        assert not np.array_equal(a[name][0], a[name][1]), name


@pytest.mark.slow
def test_noise_differs_between_samples_of_the_same_latent(getkey):
    latent = jr.normal(getkey(), (32,))
    one = em.sample_from_latent(latent, key=getkey(), config=em.SyntheticConfig(**SMALL))
    two = em.sample_from_latent(latent, key=getkey(), config=em.SyntheticConfig(**SMALL))
    for name in ("image", "text", "audio"):
        assert not np.array_equal(one[name], two[name]), name


# An item is the same alone, in any batch and in any order: tests/test_properties.py.


@pytest.mark.slow
def test_slice_independence():
    dataset = em.SyntheticDataset(em.SyntheticConfig(**SMALL), 50, key=jr.key(3))
    whole = dataset[:]
    assert tree_allclose(dataset[10:20], {k: v[10:20] for k, v in whole.items()}, atol=1e-6)
    assert tree_allclose(dataset[-5:], {k: v[-5:] for k, v in whole.items()}, atol=1e-6)
    assert tree_allclose(dataset[3:40:7], {k: v[3:40:7] for k, v in whole.items()}, atol=1e-6)


@pytest.mark.slow
def test_image_and_latent_independent_of_other_modalities(getkey):
    key = getkey()
    everything = em.synthetic_item(5, key=key, config=em.SyntheticConfig(**SMALL))
    only_image = em.synthetic_item(
        5, key=key, config=em.SyntheticConfig(**{**SMALL, "modalities": ["image"]})
    )
    assert tree_equal(everything["image"], only_image["image"])
    assert tree_equal(everything["latent"], only_image["latent"])


def test_alignment_one_removes_the_noise(getkey):
    config = em.SyntheticConfig(**SMALL, alignment=1.0)
    latent = jr.normal(getkey(), (32,))
    one = em.sample_from_latent(latent, key=getkey(), config=config)
    two = em.sample_from_latent(latent, key=getkey(), config=config)
    np.testing.assert_array_equal(one["image"], two["image"])
    np.testing.assert_array_equal(one["audio"], two["audio"])
    assert not np.array_equal(one["text"], two["text"])  # tokens stay random draws


def test_alignment_zero_ignores_the_latent(getkey):
    config = em.SyntheticConfig(**SMALL, alignment=0.0)
    key = getkey()
    one = em.sample_from_latent(jr.normal(getkey(), (32,)), key=key, config=config)
    two = em.sample_from_latent(jr.normal(getkey(), (32,)), key=key, config=config)
    for name in ("image", "text", "audio"):
        np.testing.assert_array_equal(one[name], two[name])


def test_alignment_zero_tokens_are_uniform():
    vocab = 50
    config = em.SyntheticConfig(
        modalities=["text"], alignment=0.0, vocab_size=vocab, seq_length=100
    )
    tokens = em.synthetic_batch(jnp.arange(200), key=jr.key(0), config=config)["text"]
    counts = np.bincount(np.asarray(tokens).ravel(), minlength=vocab)
    assert scipy.stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.slow
def test_dependence_grows_with_alignment():
    dependence = []
    for alignment in (0.0, 0.3, 0.6, 0.9, 1.0):
        config = em.SyntheticConfig(alignment=alignment, duration=0.1)
        batch = em.synthetic_batch(jnp.arange(128), key=jr.key(0), config=config)
        dependence.append({k: float(v) for k, v in alignment_dependence(batch, config).items()})
    for name in ("image", "text", "audio"):
        values = [d[name] for d in dependence]
        assert abs(values[0]) < 0.05, (name, values)
        assert all(a < b for a, b in zip(values, values[1:])), (name, values)
    assert dependence[-1]["image"] > 0.999 and dependence[-1]["audio"] > 0.999


@pytest.mark.slow
@pytest.mark.parametrize("alignment", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(32, 32, 3), (7, 12, 1)])
@pytest.mark.parametrize("latent_dim", [3, 32])
def test_image_matches_reference(alignment, shape, latent_dim, getkey):
    latent, key = jr.normal(getkey(), (latent_dim,)), getkey()
    fast = em.image_from_latent(latent, alignment, key=key, shape=shape)
    slow = ref.reference_image(latent, alignment, key=key, shape=shape)
    np.testing.assert_allclose(fast, slow, atol=2e-5)


def _tone64(latent, sample_rate, duration):
    z = np.asarray(latent, np.float64)[:10]
    n = int(sample_rate * duration + 1e-6)
    t = np.linspace(0, duration, n)
    f = 100 + 1900 * (np.abs(z) % 1)
    return (
        0.1 * np.abs(z)[:, None] * np.sin(2 * np.pi * f[:, None] * t + 2 * np.pi * z[:, None])
    ).sum(0)


@pytest.mark.parametrize(
    "sample_rate,duration", [(16000, 1.0), (8000, 0.29), (100, 0.01), (7, 1.0)]
)
def test_audio_tone_matches_exact_maths(sample_rate, duration, getkey):
    latent = jr.normal(getkey(), (32,))
    exact = _tone64(latent, sample_rate, duration)
    fast = np.asarray(audio_tone(latent, sample_rate, duration))
    naive = np.asarray(ref.reference_tone(latent, sample_rate, duration))
    assert fast.shape == naive.shape == exact.shape
    # float32 angles of up to 2 pi 2000 rad: the naive transcription is off by ~1e-3.
    scale = np.abs(exact).max()
    assert np.abs(fast - exact).max() <= max(2e-3 * scale, 1e-5)
    assert np.abs(fast - exact).max() <= 2 * np.abs(naive - exact).max() + 1e-5


@pytest.mark.parametrize("alignment", [0.0, 0.5, 1.0])
def test_audio_matches_reference(alignment, getkey):
    latent, key = jr.normal(getkey(), (32,)), getkey()
    fast = em.audio_from_latent(latent, alignment, key=key, sample_rate=16000, duration=1.0)
    slow = ref.reference_audio(latent, alignment, key=key, sample_rate=16000, duration=1.0)
    np.testing.assert_allclose(fast, slow, atol=3e-3)


@pytest.mark.parametrize(
    "vocab_size,latent_dim,alignment",
    [(1000, 32, 0.8), (20, 32, 1.0), (100, 7, 1.0), (64, 32, 0.0)],
)
def test_text_distribution_matches_reference(vocab_size, latent_dim, alignment, getkey):
    latent = 1.5 * jr.normal(getkey(), (latent_dim,))
    probs = np.asarray(
        jax.nn.softmax(ref.reference_logits(latent, alignment, vocab_size)), np.float64
    )
    probs /= probs.sum()
    np.testing.assert_allclose(
        token_logits(latent, alignment, vocab_size),
        ref.reference_logits(latent, alignment, vocab_size),
    )
    keys = jr.split(getkey(), 400)
    draw = jax.vmap(
        lambda k: em.text_from_latent(
            latent, alignment, key=k, vocab_size=vocab_size, seq_length=100
        )
    )
    tokens = np.asarray(draw(keys)).ravel()
    # Pool rare tokens so every expected count is at least 5.
    counts = np.bincount(tokens, minlength=vocab_size).astype(np.float64)
    expected = probs * tokens.size
    order = np.argsort(expected)
    merged_obs, merged_exp, acc_o, acc_e = [], [], 0.0, 0.0
    for i in order:
        acc_o += counts[i]
        acc_e += expected[i]
        if acc_e >= 5:
            merged_obs.append(acc_o)
            merged_exp.append(acc_e)
            acc_o = acc_e = 0.0
    merged_obs[-1] += acc_o
    merged_exp[-1] += acc_e
    assert scipy.stats.chisquare(merged_obs, merged_exp).pvalue > 1e-3


def test_text_sampler_detects_a_wrong_distribution(getkey):
    # The chi-square test above has power: tokens at alignment 1 are far from uniform.
    latent = 1.5 * jr.normal(getkey(), (32,))
    draw = jax.vmap(
        lambda k: em.text_from_latent(latent, 1.0, key=k, vocab_size=64, seq_length=100)
    )
    tokens = np.asarray(draw(jr.split(getkey(), 100))).ravel()
    assert scipy.stats.chisquare(np.bincount(tokens, minlength=64)).pvalue < 1e-6


def test_noise_is_standard_normal_and_independent(getkey):
    # At alignment 0 the image is min-max normalised N(0, 1) noise: undo the scaling.
    config = em.SyntheticConfig(modalities=["audio"], alignment=0.0, sample_rate=4000)
    batch = em.synthetic_batch(jnp.arange(4), key=getkey(), config=config)["audio"]
    for wave in np.asarray(batch):
        z = (wave - wave.mean()) / wave.std()
        assert scipy.stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(batch[0], batch[1])[0, 1]) < 0.05


@pytest.mark.parametrize("render", ["image", "text", "audio"])
def test_renderers_jit_and_vmap(render, getkey):
    fn = {
        "image": lambda z, a, k: em.image_from_latent(z, a, key=k, shape=(8, 8, 3)),
        "text": lambda z, a, k: em.text_from_latent(z, a, key=k, vocab_size=50, seq_length=9),
        "audio": lambda z, a, k: em.audio_from_latent(z, a, key=k, sample_rate=800, duration=0.1),
    }[render]
    latents = jr.normal(getkey(), (5, 32))
    alignments = jnp.linspace(0.0, 1.0, 5)
    keys = jr.split(getkey(), 5)
    eager = [fn(z, a, k) for z, a, k in zip(latents, alignments, keys)]
    jitted = [jax.jit(fn)(z, a, k) for z, a, k in zip(latents, alignments, keys)]
    vmapped = jax.vmap(fn)(latents, alignments, keys)
    # Compiled code may fuse multiply-adds that eager evaluation rounds twice.
    atol = 1e-3 if render == "audio" else 1e-6
    for i in range(5):
        assert tree_allclose(eager[i], jitted[i], atol=atol)
        assert tree_allclose(jitted[i], vmapped[i], atol=atol)


@pytest.mark.slow
def test_alignment_can_be_traced_and_vmapped(getkey):
    key = getkey()

    def dependence(alignment):
        config = em.SyntheticConfig(alignment=alignment, **SMALL)
        batch = em.synthetic_batch(jnp.arange(16), key=key, config=config)
        return alignment_dependence(batch, config)["image"]

    values = jax.vmap(dependence)(jnp.array([0.0, 1.0]))
    assert abs(float(values[0])) < 0.3 and float(values[1]) > 0.99


def test_legacy_uint32_keys_work():
    config = em.SyntheticConfig(**SMALL)
    batch = em.synthetic_batch(jnp.arange(2), key=jr.PRNGKey(0), config=config)
    assert batch["image"].shape == (2, *SMALL["image_shape"])

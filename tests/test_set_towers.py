"""The set towers (`towers="sets"`): their front ends, encoders and the re-ranker."""

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, strategies as st

import eqx_multimodal as em
import eqx_multimodal.guide._rerank as rerank
from eqx_multimodal.guide import SetReranker
from eqx_multimodal.guide.towers._encoders import group_counts
from eqx_multimodal.guide.towers._fits import _exchanges, grating_tables, product_weights
from eqx_multimodal.nn import (
    fit_grating_set,
    grating_log_likelihood,
    GroupCountEncoder,
    GUIDE_FREQUENCIES,
    make_encoder,
    scale_sign_posterior,
    SharedLatentModel,
    tone_set,
    ToneSet,
    ToneSetEncoder,
)
from eqx_multimodal.training import evaluate


def _pattern(z, size=32):
    return em.guide._synthetic.image_pattern(jnp.asarray(z, jnp.float32), size, size)


@pytest.mark.slow
def test_fit_grating_set_recovers_noise_free_gratings():
    # Three gratings: the fit is exact.
    z = np.array([0.3, -1.2, 0.7], np.float32)
    y = x = np.linspace(-1, 1, 32)
    frequencies = GUIDE_FREQUENCIES[2:5]
    image = sum(
        abs(z[k]) * np.outer(np.cos(f * y + np.pi * z[k]), np.sin(f * x + np.pi * z[k]))
        for k, f in enumerate(frequencies)
    )
    fit = fit_grating_set(jnp.asarray(image, jnp.float32), frequencies)
    error = np.abs(np.angle(np.exp(1j * (np.asarray(fit.phase) - 2 * np.pi * z))))
    assert np.all(error < 0.01), error
    np.testing.assert_allclose(fit.amplitude, np.abs(z), rtol=0.01)
    # Eight: the guide's pattern is explained as well as by the truth (to 0.1% of its
    # energy; nearly equivalent phase sets exist, which is why noise blurs the phases).
    z = np.array([0.3, -1.2, 0.7, 2.1, -0.4, 0.9, -1.6, 0.25], np.float32)
    fit = fit_grating_set(_pattern(z))
    residual = float(fit.noise) * (32 * 32 - 17)
    assert residual < 1e-3 * float(fit.energy)


@pytest.mark.slow
def test_fit_grating_set_beats_coordinate_descent_under_noise():
    config = em.SyntheticConfig(modalities=["image"], alignment=0.8)
    batch = em.synthetic_batch(jnp.arange(64), key=jr.key(5), config=config)
    gray = batch["image"].mean(-1)
    z = np.asarray(batch["latent"][:, :8])

    def error(phase):
        return np.median(np.abs(np.angle(np.exp(1j * (np.asarray(phase) - 2 * np.pi * z)))))

    vp = jax.vmap(fit_grating_set)(gray)
    _, old = jax.vmap(em.nn.fit_gratings)(gray)
    assert error(vp.phase) < error(old)


def test_tone_set_measures_tones_and_noise():
    n, rate = 16000, 16000
    t = np.arange(n) / rate
    noise = 0.05 * np.random.default_rng(0).standard_normal(n)
    wave = 0.3 * np.sin(2 * np.pi * 440.3 * t + 1.0) + 0.1 * np.sin(2 * np.pi * 1234.6 * t + 4.0)
    tones = tone_set(
        jnp.asarray(wave + noise, jnp.float32), 2, sample_rate=rate, f_min=100.0, f_max=2000.0
    )
    np.testing.assert_allclose(tones.frequency, [440.3, 1234.6], atol=0.05)
    np.testing.assert_allclose(tones.amplitude, [0.3, 0.1], rtol=0.03)
    np.testing.assert_allclose(tones.phase, [1.0, 4.0], atol=0.05)
    assert abs(float(tones.noise) - 0.05) < 0.005


def _brute_force_llr(fit, tones):
    """Best assignment of the gratings to the tones by enumeration, same statistic."""
    num = fit.amplitude.shape[0]
    _, gram, _, _ = grating_tables(32, 32, GUIDE_FREQUENCIES[:num], 2)
    gram = gram.reshape(4 * num, 4 * num)
    p = np.asarray(fit.projections).reshape(-1)
    u = np.asarray(tones.amplitude)[:, None] * np.asarray(
        product_weights(jnp.asarray(tones.phase) / 2)
    )
    best = -np.inf
    for assign in itertools.product(range(u.shape[0]), repeat=num):
        c = u[list(assign)].reshape(-1)
        numerator = c @ p
        best = max(best, numerator**2 / (c @ gram @ c) if numerator > 0 else 0.0)
    half = np.asarray(fit.phase) / 2
    fitted = np.sum(
        np.asarray(fit.amplitude)
        * np.sum(np.asarray(product_weights(jnp.asarray(half))) * p.reshape(num, 4), -1)
    )
    return -(fitted - best) / (2 * float(fit.noise))


@pytest.mark.slow
def test_grating_log_likelihood_matches_brute_force_and_prefers_the_truth():
    frequencies = GUIDE_FREQUENCIES[:3]
    rng = np.random.default_rng(1)
    y = x = np.linspace(-1, 1, 32)
    for trial in range(4):
        z = rng.standard_normal(4)
        image = sum(
            abs(z[k]) * np.outer(np.cos(f * y + np.pi * z[k]), np.sin(f * x + np.pi * z[k]))
            for k, f in enumerate(frequencies)
        )
        image = image + 0.3 * rng.standard_normal(image.shape)
        fit = fit_grating_set(jnp.asarray(image, jnp.float32), frequencies)
        other = rng.standard_normal(4)

        def tones(v):
            return ToneSet(
                jnp.zeros(4),
                jnp.asarray(np.abs(v), jnp.float32),
                jnp.asarray(np.mod(2 * np.pi * v, 2 * np.pi), jnp.float32),
                jnp.asarray(0.0),
            )

        for v in (z, other):
            found = float(grating_log_likelihood(fit, tones(v), frequencies, image_size=(32, 32)))
            exact = _brute_force_llr(fit, tones(v))
            assert found <= exact + 1e-3 * abs(exact) + 1e-3
            assert found >= exact - 1e-3 * abs(exact) - 1e-3, (trial, found, exact)
        truth = grating_log_likelihood(fit, tones(z), frequencies, image_size=(32, 32))
        wrong = grating_log_likelihood(fit, tones(other), frequencies, image_size=(32, 32))
        assert float(truth) > float(wrong)


@given(seed=st.integers(0, 2**32 - 1), num=st.sampled_from([2, 3, 8]))
def test_exchanges_are_the_objective_of_each_exchanged_assignment(seed, num):
    # The verifier's exchange step updates each pair's objective from the current terms;
    # here against recomputing it, with a Gram matrix of strong cross terms (the grating
    # products' own are nearly orthogonal, and would hide a wrong cross term).
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((4 * num, 6 * num))
    gram = basis @ basis.T / (6 * num)
    c, p = rng.standard_normal((2, num, 4))
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    numerator, denominator, (own_numerator, own_denominator) = jax.jit(_exchanges)(
        f32(c), f32(gram.reshape(num, 4, num, 4)), f32(p)
    )
    pairs = list(zip(*np.triu_indices(num, 1)))
    swapped = np.repeat(c[None], len(pairs), 0)
    for row, (first, second) in enumerate(pairs):
        swapped[row, [first, second]] = c[[second, first]]
    flat = swapped.reshape(len(pairs), -1)
    tolerance = dict(rtol=1e-4, atol=1e-4 * num)
    np.testing.assert_allclose(numerator, flat @ p.reshape(-1), **tolerance)
    np.testing.assert_allclose(denominator, np.einsum("pa,ab,pb->p", flat, gram, flat), **tolerance)
    np.testing.assert_allclose(own_numerator, c.reshape(-1) @ p.reshape(-1), **tolerance)
    np.testing.assert_allclose(own_denominator, c.reshape(-1) @ gram @ c.reshape(-1), **tolerance)


@pytest.mark.slow
def test_sign_posterior_is_a_probability_and_informative():
    config = em.SyntheticConfig(modalities=["image"], alignment=0.9)
    batch = em.synthetic_batch(jnp.arange(200), key=jr.key(2), config=config)
    fits = jax.vmap(fit_grating_set)(batch["image"].mean(-1))
    post = jax.vmap(scale_sign_posterior)(fits)
    assert np.all((np.asarray(post.plus) >= 0) & (np.asarray(post.plus) <= 1))
    z = np.asarray(batch["latent"][:, :8])
    right = np.mean(np.sign(np.asarray(post.mean)) == np.sign(z))
    assert right > 0.52, right


def test_tone_tower_ignores_the_order_of_tones():
    encoder = ToneSetEncoder(16000, 64, sample_rate=16000, d_sorted=8, key=jr.key(0))
    rng = np.random.default_rng(0)
    tones = ToneSet(
        *(jnp.asarray(rng.uniform(0.1, 1.0, 10) * s, jnp.float32) for s in (1900, 1, 6)),
        jnp.asarray(0.01, jnp.float32),
    )
    order = jnp.asarray(rng.permutation(10))
    shuffled = ToneSet(
        tones.frequency[order], tones.amplitude[order], tones.phase[order], tones.noise
    )
    np.testing.assert_allclose(
        encoder.encode(tones), encoder.encode(shuffled), rtol=1e-5, atol=1e-5
    )


def test_group_count_tower_reads_only_the_group_counts():
    encoder = GroupCountEncoder(32, 16, key=jr.key(0))
    encoder = jax.tree.map(lambda v: v + 0.1 if isinstance(v, jax.Array) else v, encoder)
    tokens = jnp.asarray([3, 35, 67, 4, 100, 999], jnp.int32)
    same_groups = jnp.asarray([67, 3, 35, 36, 4, 31], jnp.int32)  # 100 % 32 = 4, 999 % 32 = 7
    assert np.asarray(group_counts(tokens, 32))[3] == 3
    np.testing.assert_allclose(
        encoder(tokens), encoder(jnp.asarray([3, 35, 67, 4, 4, 7], jnp.int32)), rtol=1e-6
    )
    assert not np.allclose(encoder(tokens), encoder(same_groups))


@pytest.mark.slow
def test_set_encoders_embed_one_example_each():
    config = em.SyntheticConfig()
    item = em.synthetic_item(0, key=jr.key(0), config=config)
    for name in ("image", "text", "audio"):
        encoder = make_encoder(name, config, 64, towers="sets", key=jr.key(1))
        assert encoder.modality == name
        assert encoder(item[name]).shape == (64,)


def test_set_text_tower_needs_the_guide_data():
    spec = em.SyntheticConfig().spec
    with pytest.raises(ValueError, match="towers='sets'"):
        make_encoder("text", spec, 64, towers="sets", key=jr.key(1))


def test_set_towers_are_the_synthetic_default_and_unnormalised():
    config = em.SyntheticConfig(modalities=["image", "audio"])
    model = SharedLatentModel(config, latent_dim=16, d_model=32, decoders=False, key=jr.key(0))
    assert model.towers == "sets" and not model.normalized
    np.testing.assert_allclose(np.exp(model.log_temperature), 1.0)
    guide = SharedLatentModel(
        config, towers="guide", latent_dim=16, d_model=32, decoders=False, key=jr.key(0)
    )
    assert guide.normalized
    np.testing.assert_allclose(np.exp(guide.log_temperature), 10.0, rtol=1e-6)


@pytest.mark.slow
def test_evaluate_reranks_image_audio_and_keeps_the_two_tower_figures():
    config = em.SyntheticConfig(modalities=["image", "audio"], alignment=0.9)
    model = SharedLatentModel(config, latent_dim=16, d_model=32, decoders=False, key=jr.key(0))
    result = evaluate(
        model, config, gallery=24, key=jr.key(3), reranker=SetReranker(), rerank_top=24
    )
    assert set(result["retrieval_two_tower"]) == {"image->audio", "audio->image"}
    # An untrained two-tower model is near chance; verifying all 24 candidates with the
    # image's likelihood finds most true pairs at alignment 0.9.
    for pair in ("image->audio", "audio->image"):
        assert result["retrieval"][pair]["recall@1"] >= 0.5, result["retrieval"]
        assert (
            result["retrieval"][pair]["recall@1"] > result["retrieval_two_tower"][pair]["recall@1"]
        )
    off = evaluate(model, config, gallery=24, key=jr.key(3), reranker=SetReranker(), rerank_top=0)
    assert "retrieval_two_tower" not in off
    assert off["retrieval"] == result["retrieval_two_tower"]
    with pytest.raises(ValueError, match="rerank_top.*-1"):
        evaluate(model, config, gallery=24, key=jr.key(3), reranker=SetReranker(), rerank_top=-1)
    with pytest.raises(ValueError, match="`rerank_top` does nothing without a `reranker`"):
        evaluate(model, config, gallery=24, key=jr.key(3), rerank_top=8)


@pytest.mark.slow
def test_reranking_puts_the_verified_candidates_first_in_order(monkeypatch):
    config = em.SyntheticConfig(modalities=["image", "audio"])
    model = SharedLatentModel(config, latent_dim=8, d_model=8, decoders=False, key=jr.key(0))
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    # The verifier prefers the higher image index for every pair.
    monkeypatch.setattr(rerank, "_verify", lambda encoder, fits, tones: fits)
    fronts = {"image": jnp.arange(4.0), "audio": jnp.arange(4.0)}
    out = rerank.reranked_scores(model, fronts, scores, "audio", top=2, weight=0.0)
    # Query 0: tower top-2 is {0, 1}; the verifier puts 1 before 0; then 2, 3.
    assert list(np.argsort(-out[0])) == [1, 0, 2, 3]
    assert list(np.argsort(-out[1])) == [3, 2, 1, 0]

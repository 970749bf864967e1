"""The observation-only reference scorers of `guide._ceilings`, against brute force."""

import itertools
import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_multimodal.data import (
    audio_from_latent,
    image_from_latent,
    synthetic_batch,
    SyntheticConfig,
    text_from_latent,
)
from eqx_multimodal.guide import _ceilings as ceilings
from eqx_multimodal.guide._synthetic import image_pattern


def brute_log_permanent(logits):
    n = logits.shape[0]
    terms = [sum(logits[k, p[k]] for k in range(n)) for p in itertools.permutations(range(n))]
    return np.logaddexp.reduce(terms)


# -- the permanent ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("scale", [1.0, 200.0])
def test_log_permanent_matches_itertools(n, scale):
    rng = np.random.default_rng(n)
    logits = scale * rng.normal(size=(3, n, n))  # +-200: no overflow, no cancellation
    expected = [brute_log_permanent(m) for m in logits]
    np.testing.assert_allclose(ceilings.log_permanent(logits), expected, rtol=1e-12, atol=1e-9)


def test_log_permanent_keeps_batch_shape_and_rejects_non_square():
    logits = np.zeros((2, 3, 4, 4))
    np.testing.assert_allclose(ceilings.log_permanent(logits), np.full((2, 3), math.log(24)))
    with pytest.raises(ValueError, match="logits"):
        ceilings.log_permanent(np.zeros((3, 4)))


def test_tied_permanent_matches_the_generic_one():
    # Columns with equal counts (small integers repeat) are grouped by the fast path.
    rng = np.random.default_rng(0)
    for counts in ([0, 0, 1, 1, 1, 2, 5, 0], [3, 3, 3, 3, 3, 3, 3, 3], [0, 1, 2, 3, 4, 5, 6, 7]):
        counts = np.asarray(counts, float)
        values = 2.0 * rng.normal(size=(5, counts.size))
        fast = ceilings._text._tied_log_permanent(values, counts, 0.8)
        generic = ceilings.log_permanent(0.8 * values[:, :, None] * counts[None, None, :])
        np.testing.assert_allclose(fast, generic, rtol=1e-12)


# -- the text --------------------------------------------------------------------------


def _exact_text_log_likelihood(counts, sizes, shown, a, nodes=80):
    """Brute force: the unshown latents integrated by a product Gauss-Hermite rule."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    hidden = len(sizes) - len(shown)
    grids = np.meshgrid(*([x] * hidden), indexing="ij")
    weights = np.prod(np.meshgrid(*([w] * hidden), indexing="ij"), axis=0)
    z = np.concatenate(
        [np.broadcast_to(np.asarray(shown), grids[0].shape + (len(shown),))]
        + [g[..., None] for g in grids],
        axis=-1,
    )
    log_p = a * z @ counts - counts.sum() * np.log(np.exp(a * z) @ sizes)
    return np.log(np.sum(weights * np.exp(log_p)))


@pytest.mark.parametrize("alignment", [0.3, 0.8, 1.0])
def test_text_log_likelihood_integrates_the_unshown_latents(alignment):
    # vocab 7, latent_dim 3: groups of 3, 2, 2 tokens; 9 tokens; z_0 shown.
    tokens = np.array([0, 3, 6, 1, 4, 1, 0, 0, 5])
    counts = ceilings.token_counts(tokens, 3)
    np.testing.assert_array_equal(counts, [5, 3, 1])
    sizes = np.array([3.0, 2.0, 2.0])
    for z0 in (-1.3, 0.4, 2.2):
        got = ceilings.text_log_likelihood(
            tokens, np.array([z0]), alignment, vocab_size=7, latent_dim=3
        )
        expected = _exact_text_log_likelihood(counts, sizes, [z0], alignment)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)
    marginal = ceilings.text_log_marginal(tokens, alignment, vocab_size=7, latent_dim=3)
    np.testing.assert_allclose(
        marginal, _exact_text_log_likelihood(counts, sizes, [], alignment, 40), atol=1e-7
    )
    # Everything shown: the plain formula.
    z = np.array([0.3, -1.0, 0.7])
    got = ceilings.text_log_likelihood(tokens, z, alignment, vocab_size=7, latent_dim=3)
    plain = alignment * counts @ z - 9 * np.log(np.exp(alignment * z) @ sizes)
    np.testing.assert_allclose(got, plain, atol=1e-9)


@pytest.mark.slow  # 3-5 s: the inner loop stays under 2 minutes
def test_text_log_likelihood_with_a_large_count_in_an_unshown_group():
    # A group that a text favours strongly pulls its latent far from the prior: the
    # integral over it must follow (a wide trapezoidal grid as the brute force).
    tokens = np.array([0] * 2 + [1] * 9 + [3] * 3)  # vocab 4, latent_dim 2: counts 2, 12
    counts = ceilings.token_counts(tokens, 2)
    np.testing.assert_array_equal(counts, [2, 12])
    z = np.arange(-12.0, 20.0, 0.01)
    log_prior = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    for a in (0.5, 1.0):
        z0, z1 = np.meshgrid(z, z, indexing="ij")
        log_p = a * (2 * z0 + 12 * z1) - 14 * np.log(2 * np.exp(a * z0) + 2 * np.exp(a * z1))
        joint = log_p + log_prior[:, None] + log_prior[None, :]
        marginal = np.logaddexp.reduce(joint.ravel()) + 2 * math.log(0.01)
        got = ceilings.text_log_marginal(tokens, a, vocab_size=4, latent_dim=2)
        np.testing.assert_allclose(got, marginal, atol=1e-6)
        for shown in (-1.0, 0.5):
            row = a * (2 * shown + 12 * z) - 14 * np.log(2 * np.exp(a * shown) + 2 * np.exp(a * z))
            expected = np.logaddexp.reduce(row + log_prior) + math.log(0.01)
            got = ceilings.text_log_likelihood(
                tokens, np.array([shown]), a, vocab_size=4, latent_dim=2
            )
            np.testing.assert_allclose(got, expected, atol=1e-6)


def test_text_set_log_likelihood_averages_over_matchings():
    # vocab 16, latent_dim 8: every group has 2 tokens, so the mean-size normaliser of the
    # set likelihood is exact and it must equal the mean over all 5! matchings.
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 16, size=(2, 12))
    tones = rng.normal(size=(3, 5))
    got = ceilings.text_set_log_likelihood(
        tokens[:, None, :], tones[None], 0.8, vocab_size=16, latent_dim=8
    )
    assert got.shape == (2, 3)
    for q in range(2):
        for g in range(3):
            terms = [
                ceilings.text_log_likelihood(
                    tokens[q], tones[g, list(p)], 0.8, vocab_size=16, latent_dim=8
                )
                for p in itertools.permutations(range(5))
            ]
            np.testing.assert_allclose(
                got[q, g], np.logaddexp.reduce(terms) - math.log(120), atol=1e-9
            )
    # The order of the set does not matter.
    shuffled = ceilings.text_set_log_likelihood(
        tokens[:, None, :], tones[None, :, ::-1], 0.8, vocab_size=16, latent_dim=8
    )
    np.testing.assert_allclose(shuffled, got, atol=1e-9)


def test_text_given_image_is_the_posterior_mixture_over_signs():
    # A posterior over the 2^8 sign patterns of given |z| (weights from an image's
    # likelihood): the text score is the weighted sum over patterns, by brute force.
    key = jr.key(3)
    z = jr.normal(key, (32,))
    image = image_from_latent(z, 0.8, key=jr.key(4))
    tokens = np.asarray(text_from_latent(z, 0.8, key=jr.key(5)))
    magnitude = np.abs(np.asarray(z[:8], np.float64))
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=8)))
    values = signs * magnitude
    log_w = ceilings.image_log_likelihood(image, values) - 0.5 * np.sum(values**2, axis=1)
    log_w = log_w - np.logaddexp.reduce(log_w)
    posterior = ceilings.LatentPosterior(values, log_w, np.array(1.0))
    got = ceilings.text_log_likelihood_given_image(tokens, posterior, 0.8)
    terms = [ceilings.text_log_likelihood(tokens, v, 0.8) for v in values]
    np.testing.assert_allclose(got, np.logaddexp.reduce(np.asarray(terms) + log_w), atol=1e-9)


# -- the image -------------------------------------------------------------------------


def test_image_log_likelihood_is_the_pixel_least_squares():
    z = jr.normal(jr.key(0), (32,))
    image = np.asarray(image_from_latent(z, 0.7, key=jr.key(1)), np.float64)
    for latents in (np.asarray(z[:8], np.float64), np.linspace(-2, 2, 8)):
        pattern = np.asarray(image_pattern(jnp.asarray(latents, jnp.float32), 32, 32), np.float64)
        design = np.stack([np.repeat(pattern.ravel(), 3), np.ones(32 * 32 * 3)], axis=1)
        coef, _, _, _ = np.linalg.lstsq(design, image.ravel())
        rss = np.sum((image.ravel() - design @ coef) ** 2)
        count = image.size
        expected = -0.5 * count * (np.log(2 * np.pi * rss / count) + 1)
        got = ceilings.image_log_likelihood(image, latents)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    # The truth fits better than a guess, and z -> z + 1 flips the gratings' sign.
    stats = ceilings.image_statistics(image)
    truth = ceilings.image_log_likelihood(stats, np.asarray(z[:8]))
    assert truth > ceilings.image_log_likelihood(stats, np.linspace(-2, 2, 8))


def _exhaustive(stats, tones):
    """The best of all 10! / 2! assignments, enumerated grating by grating."""
    w = ceilings._image._grating_weights(tones)  # (10, 4)
    table = np.einsum("am,kmln,bn->klab", w, ceilings._image._gram_blocks(stats), w)
    lin = np.einsum("km,am->ka", stats.projections.reshape(8, 4), w)
    v_all = tones.size
    assigned = np.zeros((1, 0), int)
    num, den = np.zeros(1), np.zeros(1)
    for k in range(8):
        used = np.zeros((len(assigned), v_all), bool)
        used[np.arange(len(assigned))[:, None], assigned] = True
        parent, v = np.nonzero(~used)
        cross = table[k, np.arange(k)[None, :], v[:, None], assigned[parent]].sum(axis=1)
        num = num[parent] + lin[k, v]
        den = den[parent] + table[k, k, v, v] + 2 * cross
        assigned = np.concatenate([assigned[parent], v[:, None]], axis=1)
    assert len(assigned) == math.perm(v_all, 8)
    explained = ceilings._image._explained(num, den)
    best = np.argmax(explained)
    return assigned[best], explained[best]


@pytest.mark.slow
def test_assignment_search_finds_the_exhaustive_optimum():
    # (The tone sets are the latents the clips show: the search does not care where
    # its values come from, and the audio fit has its own tests.)
    config = SyntheticConfig(modalities=["image"], alignment=0.8)
    batch = synthetic_batch(jnp.arange(3), key=jr.key(3), config=config)
    stats = ceilings.image_statistics(batch["image"])
    tones = np.asarray(batch["latent"][:, :10], np.float64)
    pairs = [(0, 0), (1, 1), (2, 0)]  # true pairs and a false one
    images = np.array([i for i, _ in pairs])
    clips = np.array([j for _, j in pairs])
    sub = ceilings.ImageStatistics(
        stats.projections[images], stats.energy[images], stats.within[images], 32, 32, 3
    )
    assignment, ll = ceilings.match_tones_to_gratings(sub, tones[clips], key=jr.key(0))
    for p, (i, j) in enumerate(pairs):
        one = ceilings.ImageStatistics(
            stats.projections[i], stats.energy[i], stats.within[i], 32, 32, 3
        )
        _, explained = _exhaustive(one, tones[j])
        best = ceilings._image._profile_log_likelihood(explained, one.energy, one.within, 3, 1024)
        np.testing.assert_allclose(ll[p], best, rtol=0, atol=1e-6)
        # The assignment is a valid one, and it scores what it says.
        assert len(set(assignment[p])) == 8
        check = ceilings.image_log_likelihood(one, tones[j][assignment[p]])
        np.testing.assert_allclose(ll[p], check, rtol=0, atol=1e-6)


def test_free_fit_fits_at_least_as_well_as_the_truth():
    config = SyntheticConfig(modalities=["image"], alignment=0.8)
    batch = synthetic_batch(jnp.arange(8), key=jr.key(4), config=config)
    fit = ceilings.fit_image_gratings(batch["image"], key=jr.key(0))
    truth = ceilings.image_log_likelihood(batch["image"], np.asarray(batch["latent"][:, :8]))
    assert np.all(fit.log_likelihood >= truth - 1e-6)
    assert fit.phase.shape == fit.amplitude.shape == (8, 8)


def test_posterior_weights_are_the_exact_lattice_posterior():
    # Every configuration kept is weighted by its exact posterior probability (the image
    # likelihood times the prior), normalised over those kept; the phases are the fit's.
    config = SyntheticConfig(modalities=["image"], alignment=0.8)
    batch = synthetic_batch(jnp.arange(2), key=jr.key(5), config=config)
    stats = ceilings.image_statistics(batch["image"])
    fit = ceilings.fit_image_gratings(stats, key=jr.key(0))
    post = ceilings.image_latent_posterior(stats, key=jr.key(1), fit=fit)
    assert post.values.shape == (2, 64, 8)
    for i in range(2):
        keep = np.isfinite(post.log_weights[i])
        values = post.values[i, keep]
        steps = values - fit.phase[i]
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
        assert len({tuple(v) for v in np.round(values, 9)}) == len(values)  # distinct
        exact = ceilings.image_log_likelihood(
            ceilings.ImageStatistics(
                stats.projections[i], stats.energy[i], stats.within[i], 32, 32, 3
            ),
            values,
        ) - 0.5 * np.sum(values**2, axis=1)
        np.testing.assert_allclose(
            post.log_weights[i, keep], exact - np.logaddexp.reduce(exact), atol=1e-9
        )
        assert 0 < post.kept[i] <= 1
    # The most probable configuration is at least as probable as the truth's lattice point.
    truth = np.asarray(batch["latent"][:, :8], np.float64)
    for i in range(2):
        lattice_truth = fit.phase[i] + np.round(truth[i] - fit.phase[i])
        one = ceilings.ImageStatistics(
            stats.projections[i], stats.energy[i], stats.within[i], 32, 32, 3
        )
        best = post.values[i, 0]
        score = lambda v: ceilings.image_log_likelihood(one, v) - 0.5 * np.sum(v**2)  # noqa: E731
        assert score(best) >= score(lattice_truth) - 1e-9


# -- the audio -------------------------------------------------------------------------


def _set_error(found, truth):
    return np.abs(np.asarray(found)[..., None, :] - np.asarray(truth)[..., :, None]).min(-1)


@pytest.mark.slow
@pytest.mark.parametrize("alignment", [0.5, 0.8, 1.0])
def test_tone_set_recovers_the_signed_latents(alignment):
    # Latents whose tones are well apart (no two within 3 Hz) and not lost in the noise.
    z = np.array([[1.23, -0.41, 2.05, -1.77, 0.66, -0.12, 0.93, -2.58, 0.35, -1.14]], np.float32)
    z2 = -np.roll(z, 3, axis=1) * 0.9
    latents = np.concatenate([z, z2])
    waves = np.stack(
        [
            np.asarray(audio_from_latent(jnp.asarray(np.pad(z, (0, 22))), alignment, key=jr.key(i)))
            for i, z in enumerate(latents)
        ]
    )
    tones = ceilings.audio_tone_set(waves, alignment)
    assert tones.values.shape == (2, 10)
    np.testing.assert_array_less(_set_error(tones.values, latents), 1e-3)
    if alignment < 1:
        # Amplitude over noise floor is a |z| / (1 - a): the peak scale cancels.
        nearest = np.argmin(np.abs(tones.values[:, :, None] - latents[:, None, :]), axis=2)
        magnitude = np.abs(np.take_along_axis(latents, nearest, 1))
        ratio = tones.amplitude / tones.noise[:, None]
        # (the fitted amplitude's standard error is sqrt(2 / samples) noise floors)
        np.testing.assert_allclose(
            ratio, alignment * magnitude / (1 - alignment), rtol=0.03, atol=0.06
        )


def test_tone_set_rejects_alignment_zero_and_short_audio():
    with pytest.raises(ValueError, match="alignment"):
        ceilings.audio_tone_set(np.zeros((2, 16000)), 0.0)
    with pytest.raises(ValueError, match="alignment"):
        ceilings.audio_tone_set(np.zeros((2, 16000)), 1.5)
    with pytest.raises(ValueError, match="sample_rate"):
        ceilings.audio_tone_set(np.zeros((2, 4000)), 0.8, sample_rate=4000)


# -- retrieval on a gallery -------------------------------------------------------------


def test_gallery_is_the_training_gallery():
    from eqx_multimodal.guide import SyntheticDataset
    from eqx_multimodal.training import stream_key, TEST_STREAM

    config = SyntheticConfig(modalities=["text"], alignment=0.6)  # one stream for all modalities
    ours = ceilings._scores._gallery(config, 6, 5)
    theirs = SyntheticDataset(config, 6, key=stream_key(5, TEST_STREAM)).materialise(4).arrays
    for name in ("text", "latent"):
        np.testing.assert_array_equal(ours[name], np.asarray(theirs[name]))


def test_achievable_retrieval_at_alignment_zero_is_chance(tmp_path):
    config = SyntheticConfig(alignment=0.0)
    result = ceilings.achievable_retrieval(config, 50, 1, cache_dir=tmp_path, progress=False)
    assert set(result["pairs"]) == set(ceilings.CEILING_PAIRS)
    for metrics in result["pairs"].values():
        assert metrics == {"recall@1": 0.02, "recall@5": 0.1, "recall@10": 0.2, "median_rank": 25.5}
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.slow
def test_achievable_retrieval_small_gallery_and_cache(tmp_path, monkeypatch):
    config = SyntheticConfig(alignment=0.9)
    result = ceilings.achievable_retrieval(
        config, 12, 2, cache_dir=tmp_path, shortlist=3, restarts=2, progress=False
    )
    pairs = result["pairs"]
    assert set(pairs) == set(ceilings.CEILING_PAIRS)
    # At alignment 0.9, 12-way image <-> audio retrieval is all but perfect.
    assert pairs["image->audio"]["recall@1"] >= 0.9
    assert pairs["audio->image"]["recall@1"] >= 0.9
    # A second call reads the cache: nothing is computed.
    monkeypatch.setattr(
        ceilings._scores, "ceiling_scores", lambda *a, **k: pytest.fail("recomputed")
    )
    again = ceilings.achievable_retrieval(
        config, 12, 2, cache_dir=tmp_path, shortlist=3, restarts=2, progress=False
    )
    assert again == result


def test_ceiling_scores_rejects_bad_input():
    config = SyntheticConfig(alignment=0.8)
    with pytest.raises(ValueError, match="gallery"):
        ceilings.ceiling_scores({"image": np.zeros((2, 32, 32, 3))}, config, key=jr.key(0))
    with pytest.raises(TypeError, match="config"):
        ceilings.ceiling_scores({}, "config", key=jr.key(0))  # type: ignore
    with pytest.raises(ValueError, match="alignment"):
        ceilings.ceiling_scores(
            {"image": np.zeros((2, 32, 32, 3)), "text": np.zeros((2, 50), int)},
            SyntheticConfig(alignment=0.0),
            key=jr.key(0),
        )


# -- noise-free images --------------------------------------------------------------------


def test_noise_free_images_are_scored_on_one_scale():
    # At alignment 1 an image has no noise: its residual under the true latents is
    # rounding (~1e-12 of its variance), under the free fit a local minimum's (~1e-6), and
    # a likelihood scaled by that residual put every image on its own scale (the ratio of
    # the true latents to the free fit: +22,189 to +23,975 nats on these six). The floor makes
    # a fit within 1e-3 of the image's variance perfect: the ratio of every true pair is
    # 0, the same for every image.
    config = SyntheticConfig(modalities=["image"], alignment=1.0)
    batch = synthetic_batch(jnp.arange(6), key=jr.key(4), config=config)
    stats = ceilings.image_statistics(batch["image"])
    assert np.all(stats.within == 0.0)
    fit = ceilings.fit_image_gratings(stats, key=jr.key(0))
    truth = ceilings.image_log_likelihood(stats, np.asarray(batch["latent"][:, :8]))
    count = 3 * 32 * 32
    floor = ceilings.NOISE_FLOOR * 3 * stats.energy
    expected = -0.5 * count * (np.log(2 * np.pi * floor / count) + 1.0)
    np.testing.assert_allclose(truth, expected, rtol=1e-12)
    np.testing.assert_allclose(truth - fit.log_likelihood, 0.0, atol=1e-9)
    # A wrong latent still scores far below the truth.
    wrong = ceilings.image_log_likelihood(stats, np.asarray(batch["latent"][::-1, :8]))
    assert np.all(wrong < truth - 100.0)


def test_noise_floor_leaves_noisy_images_unchanged(monkeypatch):
    # Below alignment ~0.99 the residual is far above the floor: the scores are those of
    # the plain profile likelihood, bit for bit (the README's ceilings stand).
    config = SyntheticConfig(modalities=["image"], alignment=0.95)
    batch = synthetic_batch(jnp.arange(4), key=jr.key(4), config=config)
    stats = ceilings.image_statistics(batch["image"])
    latents = np.asarray(batch["latent"][:, :8])
    floored = ceilings.image_log_likelihood(stats, latents)
    monkeypatch.setattr(ceilings._image, "NOISE_FLOOR", 0.0)
    np.testing.assert_array_equal(floored, ceilings.image_log_likelihood(stats, latents))
    # ... and far above it: the floor (the likelihood at a residual of 1e-3 of the
    # image's variance) is 100s of nats above these.
    total = stats.within + 3 * stats.energy
    floor = -0.5 * 3072 * (np.log(2 * np.pi * 1e-3 * total / 3072) + 1.0)
    assert np.all(floored < floor - 1000.0)


@pytest.mark.slow
def test_alignment_one_true_pairs_rank_first():
    config = SyntheticConfig(modalities=["image", "audio"], alignment=1.0)
    batch = synthetic_batch(jnp.arange(16), key=jr.key(6), config=config)
    scores = ceilings.ceiling_scores(
        batch, config, key=jr.key(0), shortlist=4, restarts=2, progress=False
    )
    for pair in ("image->audio", "audio->image"):
        ranks = np.sum(scores[pair] > np.diag(scores[pair])[:, None], axis=1)
        assert np.mean(ranks == 0) >= 0.9, pair


@pytest.mark.slow
def test_observation_scores_are_the_ceiling_scores_on_the_same_items():
    config = SyntheticConfig(alignment=0.8)
    batch = synthetic_batch(jnp.arange(5), key=jr.key(8), config=config)
    options = dict(shortlist=2, restarts=2, steps=6)
    expected = ceilings.ceiling_scores(batch, config, key=jr.key(1), progress=False, **options)
    for pair, scores in expected.items():
        query, gallery = pair.split("->")
        got = ceilings.observation_scores(
            batch[query], batch[gallery], pair=pair, config=config, key=jr.key(1), **options
        )
        np.testing.assert_array_equal(got, scores, err_msg=pair)


def test_observation_scores_refuse_bad_input():
    config = SyntheticConfig(alignment=0.8)
    images = np.zeros((2, 32, 32, 3), np.float32)
    audio = np.zeros((2, config.num_audio_samples), np.float32)
    with pytest.raises(ValueError, match="pair"):
        ceilings.observation_scores(
            images, audio, pair="image->smell", config=config, key=jr.key(0)
        )
    with pytest.raises(ValueError, match="gallery.*shape"):
        ceilings.observation_scores(
            images, audio[:, :100], pair="image->audio", config=config, key=jr.key(0)
        )
    with pytest.raises(ValueError, match="queries.*NaN"):
        ceilings.observation_scores(
            images * np.nan, audio, pair="image->audio", config=config, key=jr.key(0)
        )
    with pytest.raises(TypeError, match="queries.*token"):
        ceilings.observation_scores(
            np.zeros((2, 50), np.float32), audio, pair="text->audio", config=config, key=jr.key(0)
        )

"""The reference computations of the guide-limits investigation
(`research/guide_limits/text_information.py`, `image_posterior.py`), against brute force.

    python -m pytest research/tests
"""

import itertools
import pathlib
import sys

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_multimodal.guide import image_pattern


sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "guide_limits"))
import image_posterior  # noqa: E402
import text_information  # noqa: E402


def brute_log_permanent(logits):
    n = logits.shape[0]
    terms = [sum(logits[k, p[k]] for k in range(n)) for p in itertools.permutations(range(n))]
    return np.logaddexp.reduce(terms)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_log_permanent_matches_brute_force(n):
    rng = np.random.default_rng(n)
    for scale in (1.0, 200.0):  # large logits must not overflow
        logits = scale * rng.normal(size=(4, n, n))
        expected = [brute_log_permanent(m) for m in logits]
        np.testing.assert_allclose(text_information.log_permanent(logits), expected, rtol=1e-10)


def test_set_scores_sum_over_matchings_and_ignore_the_order_of_the_set():
    rng = np.random.default_rng(0)
    counts, z = rng.integers(0, 5, size=(3, 4)).astype(float), rng.normal(size=(5, 4))
    scores = text_information.set_scores(counts, z, 0.8)
    for q in range(3):
        for g in range(5):
            terms = [0.8 * counts[q] @ z[g, list(p)] for p in itertools.permutations(range(4))]
            np.testing.assert_allclose(scores[q, g], np.logaddexp.reduce(terms), rtol=1e-10)
    shuffled = text_information.set_scores(counts, z[:, ::-1], 0.8)
    np.testing.assert_allclose(shuffled, scores, rtol=1e-12)


def test_unsigned_scores_are_the_likelihood_summed_over_signs():
    rng = np.random.default_rng(1)
    sizes = np.array([4.0, 4.0, 3.0, 3.0, 3.0])
    counts = rng.integers(0, 4, size=(2, 5)).astype(float)
    z = rng.normal(size=(3, 3))
    scores = text_information.unsigned_scores(counts, z, sizes, 0.8)
    for q in range(2):
        for g in range(3):
            terms = []
            for signs in itertools.product([-1.0, 1.0], repeat=3):
                shown = np.abs(z[g]) * np.array(signs)
                total = np.exp(0.8 * shown) @ sizes[:3] + sizes[3:].sum() * np.exp(0.32)
                terms.append(0.8 * counts[q, :3] @ shown - counts[q].sum() * np.log(total))
            np.testing.assert_allclose(scores[q, g], np.logaddexp.reduce(terms), rtol=1e-10)


def test_posterior_energy_is_the_pixel_residual():
    # The sufficient-statistics energy equals the squared pixel residual of the best gain
    # and offset / (2 noise), plus the prior: here computed with the data core's pattern.
    index = jnp.array([100, 250, 400, 420, 500, 610, 700, 790])
    z = image_posterior.GRID[index]
    pattern = image_pattern(z, 32, 32)
    gray = 0.1 + 0.7 * pattern + 0.05 * jr.normal(jr.key(0), (32, 32))
    posterior = image_posterior.Posterior(gray)
    assert 0.005 < float(posterior.gain(index)) < 0.5  # the gain is not clipped
    design = np.stack([np.asarray(pattern).ravel(), np.ones(32 * 32)], axis=1)
    _, residual, _, _ = np.linalg.lstsq(design, np.asarray(gray, np.float64).ravel())
    expected = residual[0] / (2 * float(posterior.noise)) + 0.5 * float(jnp.sum(z**2))
    np.testing.assert_allclose(float(posterior.energy(index)), expected, rtol=1e-3)

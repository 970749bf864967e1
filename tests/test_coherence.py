"""The measures of generated items: independent judges, coherence, fidelity, diversity
and reference coherence on the synthetic data."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.linalg

from eqx_multimodal import metrics, SyntheticConfig

from .helpers import tree_equal


CONFIG = SyntheticConfig(
    image_shape=(8, 8, 3), vocab_size=20, seq_length=6, sample_rate=4000, duration=0.064
)
CLASSES = 4


def _captions(labels, seed):
    """Token ids that carry their class: each token is from the class's 5 ids with
    probability 0.7, else uniform over the 20."""
    rng = np.random.default_rng(seed)
    own = labels[:, None] * 5 + rng.integers(0, 5, (len(labels), CONFIG.seq_length))
    noise = rng.integers(0, CONFIG.vocab_size, own.shape)
    return np.where(rng.random(own.shape) < 0.7, own, noise).astype(np.int32)


LABELS = np.arange(160) % CLASSES
TOKENS = _captions(LABELS, 0)
TRAIN, HELD = slice(0, 96), slice(96, 160)
BUDGET = dict(steps=150, batch_size=32, learning_rate=3e-3, d_model=16)


@pytest.fixture(scope="module")
def judge():
    return metrics.train_judge(
        "text", TOKENS[TRAIN], LABELS[TRAIN], CONFIG, key=jr.key(0), **BUDGET
    )


# -- judges ----------------------------------------------------------------------------


@pytest.mark.slow  # 3-5 s: the inner loop stays under 2 minutes
def test_judge_beats_chance_on_held_out_real_items_and_not_on_shuffled_labels(judge):
    assert judge.num_classes == CLASSES and judge.modality == "text"
    assert metrics.judge_accuracy(judge, TOKENS[HELD], LABELS[HELD]) >= 0.8
    shuffled = np.random.default_rng(1).permutation(LABELS[TRAIN])
    fooled = metrics.train_judge(
        "text", TOKENS[TRAIN], shuffled, CONFIG, key=jr.key(0), num_classes=CLASSES, **BUDGET
    )
    # Labels that do not go with the items teach nothing that holds out of the sample.
    assert metrics.judge_accuracy(fooled, TOKENS[HELD], LABELS[HELD]) <= 0.45


@pytest.mark.slow  # 3-5 s: the inner loop stays under 2 minutes
def test_judge_is_deterministic_under_its_key(judge):
    again = metrics.train_judge(
        "text", TOKENS[TRAIN], LABELS[TRAIN], CONFIG, key=jr.key(0), **BUDGET
    )
    assert tree_equal(judge, again)
    other = metrics.train_judge(
        "text", TOKENS[TRAIN], LABELS[TRAIN], CONFIG, key=jr.key(1), **BUDGET
    )
    assert not tree_equal(judge, other)


def test_judge_features_and_logits_shapes(judge):
    features = metrics.judge_features(judge, TOKENS[:5])
    assert features.shape == (5, 16) and features.dtype == np.float64
    logits = judge(jnp.asarray(TOKENS[0]))
    assert logits.shape == (CLASSES,)
    # K samples per source are flattened to rows.
    assert metrics.judge_features(judge, TOKENS[:6].reshape(3, 2, -1)).shape == (6, 16)
    # Chunking does not change the answer.
    np.testing.assert_allclose(
        metrics.judge_features(judge, TOKENS[:7], chunk=3),
        metrics.judge_features(judge, TOKENS[:7]),
    )


def test_coherence_accuracy_rewards_items_of_the_sources_class(judge):
    labels = LABELS[HELD]
    coherent = _captions(labels, 5)  # generated from the right class
    wrong = _captions((labels + 1) % CLASSES, 6)  # from another class
    assert metrics.coherence_accuracy(judge, coherent, labels) >= 0.8
    assert metrics.coherence_accuracy(judge, wrong, labels) <= 0.2
    # K samples per source: every sample is judged against its source's class.
    samples = np.stack([coherent, wrong], axis=1)  # (n, 2, seq)
    both = metrics.coherence_accuracy(judge, samples, labels)
    expected = (
        metrics.coherence_accuracy(judge, coherent, labels)
        + metrics.coherence_accuracy(judge, wrong, labels)
    ) / 2
    assert both == pytest.approx(expected)
    # Unlabelled sources (-1) are left out.
    partly = np.where(np.arange(len(labels)) < 10, -1, labels)
    kept = metrics.coherence_accuracy(judge, coherent[10:], labels[10:])
    assert metrics.coherence_accuracy(judge, coherent, partly) == pytest.approx(kept)


def test_coherence_and_judges_refuse_bad_input(judge):
    labels = LABELS[HELD]
    with pytest.raises(ValueError, match="generated.*shape"):
        metrics.coherence_accuracy(judge, TOKENS[HELD, :4], labels)
    with pytest.raises(TypeError, match="generated.*dtype"):
        metrics.coherence_accuracy(judge, TOKENS[HELD].astype(np.float32), labels)
    with pytest.raises(ValueError, match="labels"):
        metrics.coherence_accuracy(judge, TOKENS[HELD], labels[:3])
    with pytest.raises(TypeError, match="judge"):
        metrics.coherence_accuracy("judge", TOKENS[HELD], labels)  # type: ignore
    image_judge = metrics.Judge("image", CONFIG, 2, d_model=4, key=jr.key(0))
    bad = np.zeros((2, 8, 8, 3), np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="generated.*NaN"):
        metrics.coherence_accuracy(image_judge, bad, np.array([0, 1]))
    with pytest.raises(ValueError, match="modality"):
        metrics.train_judge("smell", TOKENS, LABELS, CONFIG, key=jr.key(0))
    with pytest.raises(ValueError, match="labels"):
        metrics.train_judge("text", TOKENS[:3], np.array([0, -1, -1]), CONFIG, key=jr.key(0))
    with pytest.raises(ValueError, match="token ids"):
        metrics.train_judge("text", TOKENS + 100, LABELS, CONFIG, key=jr.key(0))


# -- fidelity and diversity --------------------------------------------------------------


def _brute_frechet(x, y):
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s_x @ s_y).real
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(s_x + s_y - 2 * root))


def test_frechet_distance_matches_the_formula_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    y = rng.normal(size=(200, 5)) * 0.5 + 1.0
    assert metrics.frechet_distance(x, y) == pytest.approx(_brute_frechet(x, y), rel=1e-6)
    assert metrics.frechet_distance(x, x) == 0.0
    shifts = [metrics.frechet_distance(x, x + s) for s in (0.5, 1.0, 2.0)]
    assert shifts == pytest.approx([5 * 0.25, 5 * 1.0, 5 * 4.0])
    # A collapse onto the mean (a blur, in feature space) is far from the real spread.
    collapsed = np.repeat(x.mean(0, keepdims=True), 10, 0) + 1e-3 * rng.normal(size=(10, 5))
    assert metrics.frechet_distance(x, collapsed) > 0.5 * np.trace(np.cov(x, rowvar=False))


def test_frechet_distance_refuses_bad_input():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="same width"):
        metrics.frechet_distance(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="generated_features.*NaN"):
        metrics.frechet_distance(x, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="real_features.*at least 2"):
        metrics.frechet_distance(x[:1], x)
    with pytest.raises(ValueError, match="real_features.*shape"):
        metrics.frechet_distance(np.zeros(4), x)


def test_sample_diversity_is_zero_for_a_collapse_and_counts_differences():
    rng = np.random.default_rng(0)
    collapse = np.repeat(rng.normal(size=(5, 1, 4, 4, 3)), 3, axis=1).astype(np.float32)
    assert metrics.sample_diversity(collapse)["diversity"] == 0.0
    spread = collapse + rng.normal(size=collapse.shape).astype(np.float32)
    # Two independent N(0, 1) per value: the RMS difference is about sqrt(2).
    assert metrics.sample_diversity(spread)["diversity"] == pytest.approx(np.sqrt(2), rel=0.1)
    tokens = np.array([[[1, 2, 3, 4], [1, 2, 3, 5]]])  # one position in four differs
    assert metrics.sample_diversity(tokens) == {"diversity": 0.25}
    real = rng.normal(size=(50, 4, 4, 3)).astype(np.float32)
    out = metrics.sample_diversity(spread, real=real)
    brute = np.mean(
        [np.sqrt(np.mean((real[i] - real[j]) ** 2)) for i in range(50) for j in range(i + 1, 50)]
    )
    assert out["real_diversity"] == pytest.approx(brute, rel=1e-6)


def test_sample_diversity_refuses_bad_input():
    with pytest.raises(ValueError, match="K >= 2"):
        metrics.sample_diversity(np.zeros((3, 1, 4)))
    with pytest.raises(ValueError, match="samples.*shape"):
        metrics.sample_diversity(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="samples.*NaN"):
        metrics.sample_diversity(np.full((3, 2, 4), np.nan))
    with pytest.raises(ValueError, match="real.*shape"):
        metrics.sample_diversity(np.zeros((3, 2, 4)), real=np.zeros((5, 3)))


# -- the figure ----------------------------------------------------------------------------


def test_translation_figure_draws_sources_samples_and_the_real_target(tmp_path):
    from PIL import Image

    from eqx_multimodal.viz import translation_figure

    rng = np.random.default_rng(0)
    n, k = 3, 2
    sources = {
        "audio": rng.normal(size=(n, CONFIG.num_audio_samples)).astype(np.float32),
        "text": TOKENS[:n],
    }
    generated = rng.random((n, k, 8, 8, 3)).astype(np.float32)
    real = rng.random((n, 8, 8, 3)).astype(np.float32)
    path = tmp_path / "translation.png"
    figure = translation_figure(
        sources, generated, real, target="image", sample_rate=CONFIG.sample_rate, path=path
    )
    assert len(figure.axes) == n * (2 + k + 1)
    assert [ax.get_title() for ax in figure.axes[:5]] == [
        "source audio",
        "source text",
        "generated 1",
        "generated 2",
        "real image",
    ]
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 10  # something is drawn
    # Text out, one sample per source, no real target; rows capped.
    captions = translation_figure(
        {"image": real}, TOKENS[:n], target="text", decode=lambda t: "x" * len(t), max_rows=2
    )
    assert len(captions.axes) == 2 * 2
    assert "xxxxxx" in [t.get_text() for t in captions.axes[1].texts]
    with pytest.raises(ValueError, match="generated"):
        translation_figure(sources, generated[:, :, 0, 0, 0], real, target="image")
    with pytest.raises(ValueError, match="generated.*shape"):
        translation_figure(sources, generated[..., :2], real, target="image")
    with pytest.raises(ValueError, match="real_target"):
        translation_figure(sources, generated, real[:2], target="image")
    with pytest.raises(ValueError, match="sources"):
        translation_figure({"smell": real}, generated, target="image")


# -- reference coherence on the synthetic data ---------------------------------------------

# Captions of 100 tokens: a 12-way audio -> text ceiling well above chance.
SYNTH = SyntheticConfig(alignment=0.8, seq_length=100)


@pytest.fixture(scope="module")
def gallery():
    from eqx_multimodal.guide import synthetic_batch

    return {
        k: np.asarray(v)
        for k, v in synthetic_batch(jnp.arange(12), key=jr.key(2), config=SYNTH).items()
    }


@pytest.mark.slow
def test_reference_coherence_of_copies_is_the_ceiling_and_of_shuffles_near_chance(gallery):
    copies = metrics.reference_coherence(
        gallery["text"], gallery, source="audio", target="text", config=SYNTH, key=jr.key(0)
    )
    assert set(copies) == {"recall@1", "recall@10", "ceiling_recall@1", "ceiling_recall@10"}
    # A generator that returns the real target reaches the ceiling exactly.
    assert copies["recall@1"] == copies["ceiling_recall@1"]
    assert copies["recall@10"] == copies["ceiling_recall@10"]
    assert copies["ceiling_recall@1"] >= 0.25  # 12-way text -> audio at 0.8 (chance 0.08)
    # Captions of other clips point elsewhere; K samples are averaged.
    shuffled = np.roll(gallery["text"], 1, axis=0)
    samples = np.stack([gallery["text"], shuffled], axis=1)
    out = metrics.reference_coherence(
        samples,
        gallery["audio"],
        source="audio",
        target="text",
        config=SYNTH,
        key=jr.key(0),
        ceiling=copies | {"recall@1": 1.0, "recall@10": 1.0},
    )
    assert out["ceiling_recall@1"] == 1.0  # a given ceiling is taken as it is
    wrong = metrics.reference_coherence(
        shuffled,
        gallery,
        source="audio",
        target="text",
        config=SYNTH,
        key=jr.key(0),
        ks=(1,),
        ceiling={"recall@1": copies["ceiling_recall@1"]},
    )
    assert wrong["recall@1"] <= 0.25
    assert out["recall@1"] == pytest.approx((copies["recall@1"] + wrong["recall@1"]) / 2)


@pytest.mark.slow  # 11 s (it scores before some refusals): the inner loop under 2 min
def test_reference_coherence_refuses_bad_input(gallery):
    kw = dict(config=SYNTH, key=jr.key(0))
    with pytest.raises(ValueError, match="differ"):
        metrics.reference_coherence(gallery["text"], gallery, source="text", target="text", **kw)
    with pytest.raises(ValueError, match="target"):
        metrics.reference_coherence(gallery["text"], gallery, source="audio", target="smell", **kw)
    with pytest.raises(ValueError, match="generated.*per source"):
        metrics.reference_coherence(
            gallery["text"][:5], gallery, source="audio", target="text", **kw
        )
    with pytest.raises(ValueError, match="generated.*NaN"):
        metrics.reference_coherence(
            gallery["image"] * np.nan, gallery, source="audio", target="image", **kw
        )
    with pytest.raises(ValueError, match="ceiling"):
        metrics.reference_coherence(
            gallery["text"], gallery["audio"], source="audio", target="text", **kw
        )
    with pytest.raises(TypeError, match="config"):
        metrics.reference_coherence(
            gallery["text"],
            gallery,
            source="audio",
            target="text",
            config=CONFIG.spec,
            key=jr.key(0),
        )


@pytest.mark.slow
def test_reference_coherence_sees_a_blur():
    # The sanity check, at 30 clips: an image rendered from one valid assignment
    # of a clip's tones to the gratings points back to its clip; the pixel mean over 16
    # assignments (where a pixel-loss decoder goes) much less often.
    from eqx_multimodal.guide import image_pattern, synthetic_batch

    config = SyntheticConfig(alignment=0.8, modalities=["image", "audio"])
    n = 30
    batch = synthetic_batch(jnp.arange(n), key=jr.key(7), config=config)
    tones = np.asarray(batch["latent"][:, :10])
    rng = np.random.default_rng(0)

    def render(z):
        pattern = np.asarray(image_pattern(jnp.asarray(z, jnp.float32), 32, 32))
        return np.repeat(pattern[:, :, None], 3, axis=2)

    def assignment(i):
        return render(tones[i][rng.permutation(10)[:8]])

    one = np.stack([assignment(i) for i in range(n)])
    blur = np.stack([np.mean([assignment(i) for _ in range(16)], axis=0) for i in range(n)])
    kw = dict(source="audio", target="image", config=config, key=jr.key(0))
    sharp = metrics.reference_coherence(one, batch, shortlist=3, restarts=2, **kw)
    ceiling = {k: sharp[f"ceiling_{k}"] for k in ("recall@1", "recall@10")}
    blurred = metrics.reference_coherence(blur, batch, ceiling=ceiling, shortlist=0, **kw)
    assert sharp["ceiling_recall@1"] >= 0.9
    assert sharp["recall@1"] >= 0.9
    # (At 200 clips: R@10 0.99 against 0.33; here R@10 is a third of the gallery.)
    assert blurred["recall@1"] <= sharp["recall@1"] - 0.3


def test_the_evaluate_table_says_when_there_is_no_reference_coherence():
    from eqx_multimodal.cli._tables import generation_table

    made = {"audio->image": {"recall@1": 0.5, "recall@10": 0.9, "ceiling_recall@10": 0.99}}
    assert "audio->image" in generation_table({"reference_coherence": made})
    # measured on a run that generates none of the guide's three: said, not left blank
    assert "reference coherence: none" in generation_table({"reference_coherence": {}})
    assert "reference coherence" not in generation_table({})  # not measured (a folder)

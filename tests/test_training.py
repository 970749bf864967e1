import json

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal import nn
from eqx_multimodal.losses import clip_loss, LossWeights, shared_latent_loss, siglip_loss
from eqx_multimodal.metrics import (
    retrieval_metrics,
    retrieval_metrics_from_scores,
    retrieval_ranks,
    score_ranks,
)
from eqx_multimodal.nn import l2_normalize, SharedLatentModel
from eqx_multimodal.training import (
    evaluate,
    fit,
    init_state,
    load_run,
    make_step,
    stream_key,
    TrainConfig,
    training_alignment,
)

from .helpers import tree_equal


SMALL = em.SyntheticConfig(
    image_shape=(8, 8, 3), vocab_size=20, seq_length=6, sample_rate=4000, duration=0.1
)


def small_config(**changes):
    # The first round's towers: these tests are about training, not the towers, and
    # theirs compile fastest. The learning tests below use the default ("sets").
    fields = dict(
        data=SMALL,
        towers="guide",
        steps=6,
        batch_size=8,
        latent_dim=16,
        d_model=32,
        log_every=2,
        eval_every=3,
        checkpoint_every=3,
        val_gallery=16,
        loss=LossWeights(recon_batch=4),
    )
    fields.update(changes)
    return TrainConfig(**fields)


def test_clip_loss_prefers_matched_pairs(getkey):
    a = l2_normalize(jr.normal(getkey(), (16, 8)))
    assert float(clip_loss(a, a, jnp.log(50.0))) < 0.05
    shuffled = a[jnp.roll(jnp.arange(16), 1)]
    assert float(clip_loss(a, shuffled, jnp.log(50.0))) > 2.0
    assert float(siglip_loss(a, a, jnp.log(50.0), jnp.asarray(-5.0))) < float(
        siglip_loss(a, shuffled, jnp.log(50.0), jnp.asarray(-5.0))
    )


def test_clip_loss_mask_excludes_rows_and_their_gradients(getkey):
    a = l2_normalize(jr.normal(getkey(), (6, 8)))
    b = l2_normalize(jr.normal(getkey(), (6, 8)))
    mask = jnp.array([True, True, True, True, False, False])
    masked = clip_loss(a, b, jnp.log(10.0), mask)
    np.testing.assert_allclose(masked, clip_loss(a[:4], b[:4], jnp.log(10.0)), rtol=1e-5)
    grads = jax.grad(lambda x: clip_loss(x, b, jnp.log(10.0), mask))(a)
    np.testing.assert_array_equal(grads[4:], 0.0)
    assert float(clip_loss(a, b, jnp.log(10.0), jnp.array([True] + [False] * 5))) == 0.0


def test_retrieval_metrics(getkey):
    z = l2_normalize(jr.normal(getkey(), (50, 16)))
    assert retrieval_metrics(z, z) == {
        "recall@1": 1.0,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "median_rank": 1.0,
    }
    # Everything mapped to one point: ties count against the query -> worst rank.
    same = jnp.ones((50, 16)) / 4.0
    assert retrieval_metrics(same, same)["recall@10"] == 0.0
    ranks = retrieval_ranks(z, z[::-1])
    assert int(ranks.min()) >= 0 and int(ranks.max()) <= 49


def test_retrieval_from_scores_ranks_like_a_sort_and_counts_ties_and_nans_against(getkey):
    scores = np.asarray(jr.normal(getkey(), (40, 60)))  # no ties
    by_sort = [int(np.flatnonzero(np.argsort(-row) == i)[0]) for i, row in enumerate(scores)]
    np.testing.assert_array_equal(score_ranks(scores), by_sort)
    np.testing.assert_array_equal(score_ranks(jnp.asarray(scores, jnp.float32)), by_sort)
    metrics = retrieval_metrics_from_scores(scores, ks=(1, 10))
    assert metrics["recall@1"] == np.mean(np.asarray(by_sort) < 1)
    assert metrics["recall@10"] == np.mean(np.asarray(by_sort) < 10)
    assert metrics["median_rank"] == np.median(np.asarray(by_sort) + 1)
    # Ties and NaNs count against the query, whichever side the NaN is on.
    tied = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(score_ranks(tied), [1, 1])
    nans = np.array([[np.nan, 0.0, 0.0], [0.0, 1.0, np.nan]])
    np.testing.assert_array_equal(score_ranks(nans), [2, 1])
    # Scores a float32 cannot tell apart are ranked in the precision they come in.
    close = np.array([[300.0 + 1e-9, 300.0], [300.0, 300.0 + 1e-9]])
    assert retrieval_metrics_from_scores(close, ks=(1,))["recall@1"] == 1.0
    with pytest.raises(ValueError, match=r"`scores` must be \(queries, gallery\)"):
        score_ranks(np.zeros((3, 2)))


def test_retrieval_of_unrelated_latents_is_at_chance(getkey):
    a = l2_normalize(jr.normal(getkey(), (1000, 32)))
    b = l2_normalize(jr.normal(getkey(), (1000, 32)))
    metrics = retrieval_metrics(a, b)
    assert metrics["recall@1"] <= 0.005 and metrics["recall@10"] <= 0.025
    assert 400 < metrics["median_rank"] < 600


@pytest.mark.slow
def test_shared_latent_loss_terms_and_masks(getkey):
    model = SharedLatentModel(SMALL, towers="guide", latent_dim=16, d_model=32, key=getkey())
    batch = em.synthetic_batch(jnp.arange(8), key=getkey(), config=SMALL)
    weights = LossWeights(recon_batch=4, cycle=0.1)
    total, terms = eqx.filter_jit(shared_latent_loss)(model, batch, weights)
    assert set(terms) == {
        "contrastive/image-text",
        "contrastive/image-audio",
        "contrastive/text-audio",
        "recon/image",
        "recon/text",
        "recon/audio",
        "cycle/image->audio",
        "cycle/text->image",
        "cycle/text->audio",
        "cycle/audio->image",
    }
    assert all(bool(jnp.isfinite(v)) for v in terms.values()) and bool(jnp.isfinite(total))
    present = {"audio": jnp.array([True] * 4 + [False] * 4)}

    def loss(audio):
        return shared_latent_loss(
            model,
            {**batch, "audio": audio},
            LossWeights(reconstruction={"audio": 1.0}, cycle=0.0),
            present,
        )[0]

    grads = jax.jit(jax.grad(loss))(batch["audio"])
    np.testing.assert_array_equal(grads[4:], 0.0)
    assert float(jnp.abs(grads[:4]).sum()) > 0


def test_config_round_trips_and_validates(without_runtime_typecheck):
    config = small_config(curriculum_start=1.0, loss=LossWeights(objective="siglip"))
    again = TrainConfig.from_json(config.to_json())
    assert again == config
    with without_runtime_typecheck():
        with pytest.raises(ValueError, match="`batch_size` must be an integer >= 2, got 1"):
            small_config(batch_size=1)
        with pytest.raises(ValueError, match="`objective` must be one of"):
            LossWeights(objective="triplet")
        with pytest.raises(ValueError, match=r"`alignment` must be in \[0, 1\]"):
            small_config(data={**SMALL.to_dict(), "alignment": 3.0})
        with pytest.raises(ValueError, match="unknown training config field"):
            TrainConfig.from_json('{"stepz": 3}')


def test_curriculum_moves_the_training_alignment():
    config = small_config(steps=100, curriculum_start=1.0, curriculum_fraction=0.5)
    values = [float(training_alignment(config, jnp.asarray(s))) for s in (0, 25, 50, 99)]
    np.testing.assert_allclose(values, [1.0, 0.9, 0.8, 0.8], rtol=1e-6)
    assert float(training_alignment(small_config(), jnp.asarray(3))) == pytest.approx(0.8)


@pytest.mark.slow
def test_step_compiles_once(count_compiles):
    config = small_config(seed=11)
    state, step = init_state(config), make_step(config)
    state, _ = step(state)
    with count_compiles() as compiled:
        for _ in range(3):
            state, metrics = step(state)
        jax.block_until_ready(metrics)
    assert compiled == []
    assert int(state.step) == 4


@pytest.mark.slow
def test_fit_writes_the_run_and_resumes_exactly(tmp_path):
    config = small_config()
    straight, history = fit(config, tmp_path / "a", progress=False)
    assert [row["step"] for row in history] == [2, 3, 4, 6]
    assert all("loss" in row for row in history if row["step"] % 2 == 0)
    assert "val_loss" in history[1] and "val_recall@1 image->audio" in history[1]
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == history
    for name in ("checkpoint.json", "config.json", "checkpoints/step-0000006.eqx"):
        assert (tmp_path / "a" / name).exists()

    fit(config, tmp_path / "b", until=3, progress=False)  # interrupted after step 3
    resumed, resumed_history = fit(config, tmp_path / "b", resume=True, progress=False)
    assert int(resumed.step) == 6
    assert tree_equal(eqx.filter(straight, eqx.is_array), eqx.filter(resumed, eqx.is_array))

    def untimed(rows):
        return [{k: v for k, v in row.items() if k != "steps_per_sec"} for row in rows]

    assert untimed(resumed_history) == untimed(history)

    _, loaded = load_run(tmp_path / "a")
    assert tree_equal(eqx.filter(loaded, eqx.is_array), eqx.filter(straight, eqx.is_array))
    with pytest.raises(ValueError, match="cannot resume: the saved config differs in"):
        fit(small_config(learning_rate=1e-4), tmp_path / "a", resume=True, progress=False)


@pytest.mark.slow
def test_training_learns_image_audio_alignment(tmp_path):
    # Tones up to 2 kHz need a 4 kHz sample rate; a 16x16 image resolves the gratings.
    data = em.SyntheticConfig(
        modalities=["image", "audio"],
        image_shape=(16, 16, 1),
        sample_rate=4000,
        duration=0.25,
        alignment=1.0,
    )
    config = small_config(
        steps=100,
        batch_size=64,
        data=data,
        learning_rate=5e-3,
        eval_every=100,
        checkpoint_every=100,
        log_every=10,
        loss=LossWeights(reconstruction={}),
        towers="sets",
    )
    state, history = fit(config, tmp_path, progress=False)
    losses = [row["contrastive/image-audio"] for row in history if "loss" in row]
    assert losses[-1] < losses[0]
    result = evaluate(state.model, config.synthetic_config(), gallery=200, key=stream_key(0, 2))
    for pair in ("image->audio", "audio->image"):
        # Chance: recall@10 0.05, median rank 100.
        assert result["retrieval"][pair]["recall@10"] > 0.1, result["retrieval"]
        assert result["retrieval"][pair]["median_rank"] < 70, result["retrieval"]


@pytest.mark.slow
def test_evaluate_covers_every_ordered_pair(getkey):
    config = small_config()
    model = SharedLatentModel(SMALL, towers="guide", latent_dim=16, d_model=32, key=getkey())
    result = evaluate(model, config.synthetic_config(), gallery=40, key=stream_key(0, 2))
    assert set(result["retrieval"]) == {
        f"{a}->{b}"
        for a in ("image", "text", "audio")
        for b in ("image", "text", "audio")
        if a != b
    }
    assert set(result["reconstruction"]) == {"image", "text", "audio"}
    only = evaluate(
        model,
        config.synthetic_config(),
        gallery=40,
        key=stream_key(0, 2),
        modalities=["image", "text"],
    )
    assert set(only["retrieval"]) == {"image->text", "text->image"}
    with pytest.raises(ValueError, match="the model was not trained on"):
        evaluate(
            SharedLatentModel(
                SMALL.replace(modalities=["image", "text"]), latent_dim=16, d_model=32, key=getkey()
            ),
            config.synthetic_config(),
            gallery=40,
            key=stream_key(0, 2),
            modalities=["image", "audio"],
        )


@pytest.mark.slow
def test_alignment_zero_is_at_chance(tmp_path):
    config = small_config(
        steps=30,
        batch_size=32,
        data=SMALL.replace(alignment=0.0),
        eval_every=30,
        checkpoint_every=30,
        towers="sets",
    )
    state, _ = fit(config, tmp_path, progress=False)
    result = evaluate(state.model, config.synthetic_config(), gallery=1000, key=stream_key(0, 2))
    for pair, metrics in result["retrieval"].items():
        assert metrics["recall@1"] <= 0.005 and metrics["recall@10"] <= 0.025, (pair, metrics)


def test_model_validation(without_runtime_typecheck):
    with without_runtime_typecheck():
        with pytest.raises(ValueError, match="which the data does not have"):
            SharedLatentModel(
                SMALL.replace(modalities=["image"]), modalities=["audio"], key=jr.key(0)
            )
    model = SharedLatentModel(SMALL.replace(modalities=["image", "text"]), key=jr.key(0))
    with pytest.raises(ValueError, match="this model has no 'audio' encoder"):
        model.embed("audio", jnp.zeros(400))


@pytest.mark.slow
def test_one_temperature_per_pair(getkey):
    model = SharedLatentModel(
        SMALL, towers="guide", latent_dim=16, d_model=32, decoders=False, key=getkey()
    )
    assert model.pairs == [("image", "text"), ("image", "audio"), ("text", "audio")]
    assert model.log_temperature.shape == model.bias.shape == (3,)
    assert model.pair_index("audio", "image") == 1
    with pytest.raises(ValueError, match="no pair"):
        model.pair_index("image", "image")
    batch = em.synthetic_batch(jnp.arange(8), key=getkey(), config=SMALL)
    weights = LossWeights(reconstruction={"image": 0.0, "text": 0.0, "audio": 0.0})
    _, before = shared_latent_loss(model, batch, weights)
    # Sharpening the image-audio pair changes that term and no other.
    sharper = eqx.tree_at(lambda m: m.log_temperature, model, model.log_temperature.at[1].add(1.0))
    _, after = shared_latent_loss(sharper, batch, weights)
    assert float(after["contrastive/image-audio"]) != float(before["contrastive/image-audio"])
    for name in ("contrastive/image-text", "contrastive/text-audio"):
        assert float(after[name]) == float(before[name])


@pytest.mark.slow
def test_text_tower_is_a_centred_bag_plus_a_learned_constant(getkey):
    # The centred part maps the whole vocabulary once each to exactly zero, so it
    # measures how far the counts are from uniform; the constant `offset` starts at zero
    # and is trained (it carries the part of the score that depends only on the other
    # modality's item).
    model = SharedLatentModel(
        SMALL, towers="guide", latent_dim=16, d_model=32, decoders=False, key=getkey()
    )
    tower = model.encoders["text"]
    assert isinstance(tower, nn.CentredBagEncoder)
    assert float(jnp.max(jnp.abs(tower.centred(jnp.arange(SMALL.vocab_size))))) < 1e-6
    assert float(jnp.max(jnp.abs(tower.centred(jnp.zeros(6, jnp.int32))))) > 1e-3
    # Small token embeddings, so that training reshapes them from the first steps.
    assert 0.015 < float(jnp.std(tower.embedding)) < 0.025
    assert model.heads["text"].bias is None
    np.testing.assert_array_equal(tower.offset, 0.0)
    tokens = jnp.arange(6)
    moved = eqx.tree_at(lambda t: t.offset, tower, jnp.ones_like(tower.offset))
    np.testing.assert_allclose(moved(tokens), tower.centred(tokens) + 1.0, rtol=1e-6)
    batch = em.synthetic_batch(jnp.arange(8), key=getkey(), config=SMALL)
    grads = eqx.filter_grad(lambda m: shared_latent_loss(m, batch)[0])(model)
    assert float(jnp.max(jnp.abs(grads.encoders["text"].offset))) > 0.0

"""The set towers' image decoder (`nn.GratingSetDecoder`): candidates matched one to one,
samples that are valid assignments, and its own loss."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

from eqx_multimodal import nn
from eqx_multimodal.guide import image_from_latent, synthetic_batch, SyntheticConfig
from eqx_multimodal.guide.towers._set_decoder import _ridge_solve
from eqx_multimodal.losses import decoder_loss, generation_loss

from .helpers import tree_equal


SHAPE = (16, 16, 3)


def _decoder(key=0, hidden=32, **kwargs):
    return nn.GratingSetDecoder(8, SHAPE, hidden=hidden, key=jr.key(key), **kwargs)


def _images(n, alignment=1.0):
    config = SyntheticConfig(modalities=["image"], image_shape=SHAPE, alignment=alignment)
    return synthetic_batch(jnp.arange(n), key=jr.key(3), config=config)["image"]


def test_matching_is_the_least_cost_one_to_one_matching():
    costs = jr.uniform(jr.key(0), (20, 3, 5))
    got = np.asarray(jax.jit(jax.vmap(nn.matching))(costs))
    for cost, columns in zip(np.asarray(costs), got):
        assert len(set(columns.tolist())) == 3
        best = min(
            sum(cost[r, c] for r, c in enumerate(p)) for p in itertools.permutations(range(5), 3)
        )
        assert cost[np.arange(3), columns].sum() == pytest.approx(best, rel=1e-6)


def test_matching_refuses_more_rows_than_columns():
    with pytest.raises(ValueError, match="rows <= columns"):
        nn.matching(jnp.zeros((4, 3)))


@pytest.mark.slow
def test_samples_are_valid_assignments_and_differ_with_the_key():
    decoder = _decoder()
    condition = jr.normal(jr.key(1), (8,))
    chosen = jax.vmap(lambda k: decoder.assignment(condition, key=k))(jr.split(jr.key(2), 64))
    chosen = np.asarray(chosen)
    assert chosen.shape == (64, 8)
    assert all(len(set(row.tolist())) == 8 for row in chosen)
    assert len({tuple(row) for row in chosen.tolist()}) > 32
    one, two = (decoder(condition, key=k) for k in jr.split(jr.key(4)))
    assert one.shape == SHAPE and float(one.min()) >= 0 and float(one.max()) <= 1
    assert not np.allclose(one, two)
    assert np.array_equal(decoder(condition, key=jr.key(5)), decoder(condition, key=jr.key(5)))
    assert np.array_equal(decoder(condition, greedy=True), decoder(condition, greedy=True))
    with pytest.raises(ValueError, match="pass `key=`"):
        decoder(condition)


@pytest.mark.slow
def test_a_perfect_set_in_any_order_has_no_loss():
    decoder = _decoder()
    image = _images(1)[0]
    # the image's true coefficients: what the ridge targets are the shrunk view of
    _, shrink = _ridge_solve(*SHAPE[:2], decoder.frequencies, decoder.ridge)
    wanted = decoder.coefficients(image).reshape(-1)
    true = np.linalg.solve(shrink.astype(np.float64), np.asarray(wanted, np.float64))
    true = jnp.asarray(true.reshape(8, 4), jnp.float32)
    order = jr.permutation(jr.key(6), 10)
    spare = jr.normal(jr.key(7), (2, 4))
    candidates = jnp.concatenate([true, spare])[order]
    # each grating's logits point at the candidate that holds it
    where = jnp.argsort(order)[:8]
    logits = 50.0 * jax.nn.one_hot(where, 10)
    assert float(decoder.loss((candidates, logits), image)) == pytest.approx(0.0, abs=1e-5)
    # the image's true coefficients render the image
    assert np.corrcoef(decoder.render(true).ravel(), image.ravel())[0, 1] > 0.999
    # and a candidate is the same whichever grating shows it: the latent with its first
    # 8 dimensions permuted gives an image whose true coefficients are these, permuted
    config = SyntheticConfig(modalities=["image"], image_shape=SHAPE, alignment=1.0)
    latent = jr.normal(jr.key(8), (config.latent_dim,))
    swapped = latent.at[:8].set(latent[:8][order[order < 8]])
    images = [image_from_latent(z, 1.0, key=jr.key(0), shape=SHAPE) for z in (latent, swapped)]
    trues = [
        np.linalg.solve(shrink, np.asarray(decoder.coefficients(x)).reshape(-1)).reshape(8, 4)
        for x in images
    ]
    moved = trues[0][np.asarray(order[order < 8])]
    scale = np.sum(moved * trues[1]) / np.sum(moved**2)
    assert np.abs(scale * moved - trues[1]).max() < 0.05 * np.abs(trues[1]).max()
    shuffled = candidates.at[where[0]].set(candidates[where[0]] + 1.0)
    assert float(decoder.loss((shuffled, logits), image)) > 0.1


@pytest.mark.slow
def test_it_learns_a_set_and_its_samples_render_it():
    decoder = _decoder(hidden=64)
    images = _images(4)
    conditions = jax.nn.one_hot(jnp.arange(4), 8)
    optimiser = optax.adam(3e-3)
    state = optimiser.init(eqx.filter(decoder, eqx.is_array))

    def loss(d):
        outputs = jax.vmap(d.teacher_output)(conditions, images)
        return jnp.mean(jax.vmap(lambda o, t: decoder_loss(d, "image", o, t))(outputs, images))

    @eqx.filter_jit
    def step(d, state):
        value, grads = eqx.filter_value_and_grad(loss)(d)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 counts and floats
            updates, state = optimiser.update(grads, state)
        return eqx.apply_updates(d, updates), state, value

    first = None
    for _ in range(300):
        decoder, state, value = step(decoder, state)
        first = value if first is None else first
    assert float(value) < 0.1 * float(first)
    # Any sample is some assignment of the learned set to the gratings; the greedy one,
    # that of the matching (the same image, up to its noise-free render).
    made = jax.vmap(lambda c: decoder(c, greedy=True))(conditions)
    for real, fake in zip(np.asarray(images), np.asarray(made)):
        assert np.corrcoef(real.ravel(), fake.ravel())[0, 1] > 0.9


def test_it_is_checked():
    with pytest.raises(ValueError, match="num_candidates"):
        _decoder(num_candidates=7)
    with pytest.raises(ValueError, match="`image` must have shape"):
        _decoder().coefficients(jnp.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="ridge"):
        _decoder(ridge=-1.0)


@pytest.mark.slow
def test_the_set_towers_generate_images_with_it_and_refuse_image_cycles():
    config = SyntheticConfig(image_shape=SHAPE, sample_rate=4000, duration=0.25)
    generators = nn.make_generators(
        config.spec, latent_dim=8, width=16, z_dim=4, towers="sets", key=jr.key(0)
    )
    assert isinstance(generators.generator("image").decoder, nn.GratingSetDecoder)
    model = nn.SharedLatentModel(config, latent_dim=8, d_model=16, towers="sets", key=jr.key(1))
    batch = synthetic_batch(jnp.arange(4), key=jr.key(2), config=config)
    latents = {m: jax.vmap(lambda x, m=m: model.embed(m, x))(batch[m]) for m in config.modalities}
    total, terms = generation_loss(generators, latents, batch, key=jr.key(3))
    assert np.isfinite(float(total)) and float(terms["generate/image"]) > 0
    # Its own draw holds the uncertainty: no VAE latent to learn the target from.
    assert float(terms["kl/image"]) == 0.0 and float(terms["kl/audio"]) > 0
    generator = generators.generator("image")
    sources = jnp.stack([latents[s][0] for s in generator.sources])
    present = jnp.ones(len(generator.sources), bool)
    one, two = (
        generator.teacher_output(sources, present, latents["image"][0], batch["image"][0], key=k)
        for k in jr.split(jr.key(4))
    )
    assert tree_equal(one, two)
    with pytest.raises(ValueError, match="cycle_weight"):
        generation_loss(generators, latents, batch, key=jr.key(3), cycle_weight=1.0, model=model)


@pytest.mark.slow
def test_the_generators_cycle_is_for_the_targets_that_decode_their_items():
    # Cycle consistency asks no modality by name: the generic image decoder makes the
    # image (a cycle term), the audio generator a spectrogram and text logits (none).
    config = SyntheticConfig(image_shape=SHAPE, sample_rate=4000, duration=0.25)
    generators = nn.make_generators(
        config.spec, latent_dim=8, width=16, z_dim=4, towers="generic", key=jr.key(0)
    )
    model = nn.SharedLatentModel(config, latent_dim=8, d_model=16, towers="generic", key=jr.key(1))
    batch = synthetic_batch(jnp.arange(4), key=jr.key(2), config=config)
    latents = {m: jax.vmap(lambda x, m=m: model.embed(m, x))(batch[m]) for m in config.modalities}
    _, terms = generation_loss(
        generators, latents, batch, key=jr.key(3), cycle_weight=1.0, model=model
    )
    assert sorted(t for t in terms if t.startswith("gen_cycle/")) == ["gen_cycle/image"]
    assert np.isfinite(float(terms["gen_cycle/image"]))
    text_only = {m: latents[m] for m in ("image", "text")}
    with pytest.raises(ValueError, match="none of \\['text'\\]"):
        generation_loss(
            generators,
            text_only,
            {"text": batch["text"]},
            key=jr.key(3),
            cycle_weight=1.0,
            model=model,
        )

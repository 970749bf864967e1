"""Contracts of the cross-modal generators (`nn.ModalityGenerator`, `nn.Generators`),
their loss, the spectrogram decoder and the inverse STFT."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
import scipy.signal

from eqx_multimodal import nn
from eqx_multimodal.data import DataSpec
from eqx_multimodal.losses import generation_loss, random_subsets
from eqx_multimodal.training import GenerationConfig, TrainConfig

from .helpers import tree_allclose, tree_equal


L, W, Z = 8, 16, 4
SPEC = DataSpec(
    modalities=("image", "text", "audio"),
    image_shape=(4, 4, 1),
    vocab_size=12,
    seq_length=5,
    pad_id=0,
    num_audio_samples=256,
    sample_rate=1000,
)


def _generator(target="image", fusion="attention", key=jr.key(0)):
    generators = nn.make_generators(
        SPEC, latent_dim=L, width=W, z_dim=Z, targets=[target], fusion=fusion, key=key
    )
    return generators.generators[target]


SHAPES = {
    "image": ((4, 4, 1), jnp.float32),
    "text": ((5,), jnp.int32),
    "audio": ((256,), jnp.float32),
}


@pytest.mark.slow
@pytest.mark.parametrize("target", ["image", "text", "audio"])
def test_shapes_jit_and_keys(target, getkey):
    generator = _generator(target)
    latents = jr.normal(getkey(), (2, L))
    present = jnp.array([True, True])
    key = getkey()
    out = generator(latents, present, key=key)
    shape, dtype = SHAPES[target]
    assert out.shape == shape and out.dtype == dtype
    jitted = eqx.filter_jit(lambda g, x, p, k: g(x, p, key=k))(generator, latents, present, key)
    # Griffin-Lim's 32 iterations carry the rounding differences of a compiled program.
    atol = 1e-3 if target == "audio" else 1e-5
    assert tree_allclose(out, jitted, rtol=1e-4, atol=atol)
    assert tree_equal(out, generator(latents, present, key=key))
    greedy = generator(latents, present, greedy=True)
    assert tree_equal(greedy, generator(latents, present, greedy=True))
    with pytest.raises(ValueError, match="key"):
        generator(latents, present)


def test_other_keys_give_other_samples(getkey):
    generator = _generator("image")
    latents, present = jr.normal(getkey(), (2, L)), jnp.array([True, False])
    a = generator(latents, present, key=jr.key(1))
    b = generator(latents, present, key=jr.key(2))
    assert float(jnp.max(jnp.abs(a - b))) > 1e-4


@pytest.mark.slow
def test_vmap_equals_loop(getkey):
    generator = _generator("image")
    latents = jr.normal(getkey(), (3, 2, L))
    present = jnp.array([[True, True], [True, False], [False, True]])
    keys = jr.split(getkey(), 3)
    batched = jax.vmap(lambda x, p, k: generator(x, p, key=k))(latents, present, keys)
    looped = jnp.stack([generator(latents[i], present[i], key=keys[i]) for i in range(3)])
    assert tree_allclose(batched, looped, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fusion", nn.FUSIONS)
def test_an_absent_source_does_not_affect_the_output(fusion, getkey):
    generator = _generator("image", fusion)
    latents = jr.normal(getkey(), (2, L))
    other = latents.at[1].set(100 * jr.normal(getkey(), (L,)))
    present = jnp.array([True, False])
    key = getkey()
    assert tree_equal(generator(latents, present, key=key), generator(other, present, key=key))
    # ... and it gets no gradient.
    grad = jax.grad(lambda x: jnp.sum(generator(x, present, greedy=True)))(latents)
    assert float(jnp.max(jnp.abs(grad[1]))) == 0.0
    assert float(jnp.max(jnp.abs(grad[0]))) > 0.0


def test_invariants_are_checked():
    decoder = nn.ImageDecoder(W + Z, (4, 4, 1), hidden=8, key=jr.key(0))
    with pytest.raises(ValueError, match="sources"):
        nn.ModalityGenerator(
            "image", ("image", "text"), decoder, latent_dim=L, width=W, z_dim=Z, key=jr.key(1)
        )
    with pytest.raises(ValueError, match="width \\+ z_dim"):
        nn.ModalityGenerator(
            "image", ("text",), decoder, latent_dim=L, width=W, z_dim=Z + 1, key=jr.key(1)
        )
    with pytest.raises(ValueError, match="fusion"):
        nn.make_generators(SPEC, latent_dim=L, fusion="sum", key=jr.key(0))
    generator = _generator("image")
    # jaxtyping's check (a TypeError) or the module's own (a ValueError naming it).
    with pytest.raises((ValueError, TypeError), match="latent"):
        generator(jnp.zeros((3, L)), jnp.ones(2, bool), greedy=True)


def test_random_subsets_are_non_empty_and_available():
    available = jnp.array([[True, True], [True, False], [False, True], [False, False]] * 50)
    subsets = np.asarray(random_subsets(available, key=jr.key(0)))
    assert not np.any(subsets & ~np.asarray(available))
    assert np.all(subsets[np.asarray(available).any(axis=1)].any(axis=1))
    both = subsets[::4]
    assert {tuple(r) for r in both.tolist()} == {(True, True), (True, False), (False, True)}


def _batch(key, size=8):
    ikey, tkey, akey, lkey = jr.split(key, 4)
    batch = {
        "image": jr.uniform(ikey, (size, 4, 4, 1)),
        "text": jr.randint(tkey, (size, 5), 0, 12),
        "audio": 0.5 * jnp.sin(jnp.arange(256.0)[None, :] * jr.uniform(akey, (size, 1))),
    }
    latents = {m: jr.normal(k, (size, L)) for m, k in zip(batch, jr.split(lkey, 3))}
    return batch, latents


@pytest.mark.slow
def test_one_optax_step_is_finite_and_lowers_the_loss(getkey):
    generators = nn.make_generators(SPEC, latent_dim=L, width=W, z_dim=Z, key=getkey())
    batch, latents = _batch(getkey())
    optimizer = optax.adam(3e-3)
    state = optimizer.init(eqx.filter(generators, eqx.is_inexact_array))
    key = getkey()

    def loss(g):
        return generation_loss(g, latents, batch, key=key)[0]

    @eqx.filter_jit
    def step(g, state):
        value, grads = eqx.filter_value_and_grad(loss)(g)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 counts and floats
            updates, state = optimizer.update(grads, state, eqx.filter(g, eqx.is_inexact_array))
        return eqx.apply_updates(g, updates), state, value, grads

    generators, state, first, grads = step(generators, state)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    for _ in range(4):
        generators, state, _, _ = step(generators, state)
    assert float(step(generators, state)[2]) < float(first)
    _, terms = eqx.filter_jit(generation_loss)(generators, latents, batch, key=key)
    assert set(terms) == {f"{t}/{m}" for t in ("generate", "kl") for m in SPEC.modalities}


@pytest.mark.slow  # 3-5 s: the inner loop stays under 2 minutes
def test_rows_without_their_target_count_for_nothing(getkey):
    generators = nn.make_generators(
        SPEC, latent_dim=L, width=W, z_dim=Z, targets=["image"], key=getkey()
    )
    batch, latents = _batch(getkey())
    present = {m: jnp.arange(8) < 4 for m in ("image",)}
    key = getkey()
    base = generation_loss(generators, latents, batch, present, key=key)[0]
    changed = {**batch, "image": batch["image"].at[4:].set(0.0)}
    assert float(base) == float(generation_loss(generators, latents, changed, present, key=key)[0])


@pytest.mark.slow
def test_generators_learn_what_the_source_says():
    """Each of 4 classes has its own source latent; after training, a nearest-mean
    classifier of real images (fitted on real images only) reads the class from every
    generated image, from either source alone and from both."""
    spec = DataSpec(modalities=("image", "text"), image_shape=(4, 4, 1), vocab_size=4, seq_length=2)
    generators = nn.make_generators(
        spec, latent_dim=L, width=W, z_dim=Z, targets=["image"], key=jr.key(0)
    )
    classes = jnp.arange(64) % 4
    prototypes = jr.uniform(jr.key(1), (4, 4, 4, 1))
    images = jnp.clip(prototypes[classes] + 0.05 * jr.normal(jr.key(2), (64, 4, 4, 1)), 0, 1)
    codes = jr.normal(jr.key(3), (4, L))
    latents = {"text": codes[classes], "image": jr.normal(jr.key(4), (64, L))}
    batch = {"image": images, "text": jnp.zeros((64, 2), jnp.int32)}
    optimizer = optax.adam(1e-2)
    state = optimizer.init(eqx.filter(generators, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(g, state, key):
        grads = eqx.filter_grad(lambda g: generation_loss(g, latents, batch, key=key)[0])(g)
        with jax.numpy_dtype_promotion("standard"):
            updates, state = optimizer.update(grads, state, eqx.filter(g, eqx.is_inexact_array))
        return eqx.apply_updates(g, updates), state

    for i in range(150):
        generators, state = step(generators, state, jr.key(100 + i))
    means = jnp.stack([images[classes == c].mean(axis=0) for c in range(4)])
    made = jax.vmap(lambda z, k: generators.generate("image", {"text": z}, key=k))(
        codes[classes], jr.split(jr.key(5), 64)
    )
    distance = jnp.sum((made[:, None] - means[None]) ** 2, axis=(2, 3, 4))
    assert float(jnp.mean(jnp.argmin(distance, axis=1) == classes)) == 1.0


def test_istft_inverts_stft_and_matches_scipy():
    x = jnp.asarray(np.random.default_rng(0).normal(size=1000).astype(np.float32))
    for hop in (16, 32):
        spectrum = nn.stft(x, n_fft=64, hop_length=hop)
        back = nn.istft(spectrum, n_fft=64, hop_length=hop, length=1000)
        assert float(jnp.max(jnp.abs(back - x))) < 1e-5
    rng = np.random.default_rng(1)
    spectrum = (rng.normal(size=(20, 33)) + 1j * rng.normal(size=(20, 33))).astype(np.complex64)
    spectrum[:, 0] = spectrum[:, 0].real
    spectrum[:, -1] = spectrum[:, -1].real
    ours = np.asarray(nn.istft(jnp.asarray(spectrum), n_fft=64, hop_length=16, length=300))
    window = scipy.signal.get_window("hann", 64)
    _, ref = scipy.signal.istft(
        spectrum.T / window.sum(), nperseg=64, noverlap=48, window="hann", boundary=True
    )
    assert np.allclose(ours, ref[:300], atol=1e-6)


def test_griffin_lim_recovers_a_consistent_phase():
    t = jnp.arange(2000) / 8000
    x = jnp.sin(2 * jnp.pi * 440 * t) + 0.5 * jnp.sin(2 * jnp.pi * 1230 * t)
    magnitude = nn.stft_magnitude(x, n_fft=128, hop_length=32)

    def error(iterations):
        y = nn.griffin_lim(magnitude, n_fft=128, hop_length=32, length=2000, iterations=iterations)
        rebuilt = nn.stft_magnitude(y, n_fft=128, hop_length=32)
        return float(jnp.linalg.norm(rebuilt - magnitude) / jnp.linalg.norm(magnitude))

    assert error(32) < 0.2 < error(0)
    with pytest.raises(ValueError, match="momentum"):
        nn.griffin_lim(magnitude, n_fft=128, hop_length=32, length=2000, momentum=1.0)


def test_spectrogram_decoder_checks_its_hop():
    with pytest.raises(ValueError, match="hop_length"):
        nn.SpectrogramDecoder(4, 256, n_fft=64, hop_length=48, key=jr.key(0))


def test_generation_config_round_trips_and_is_absent_when_off():
    generation = GenerationConfig(fusion="late", cycle=0.5)
    config = TrainConfig(steps=10, towers="guide", generation=generation)
    assert TrainConfig.from_json(config.to_json()) == config
    assert "generation" not in TrainConfig(steps=10).to_dict()
    with pytest.raises(ValueError, match="fusion"):
        GenerationConfig(fusion="sum")
    # The sets towers' image decoder predicts gratings, not pixels: no image cycle.
    with pytest.raises(ValueError, match="`generation.cycle` 0.5 needs an image decoder"):
        TrainConfig(steps=10, generation=generation)


@pytest.mark.parametrize("n_fft, hop", [(64, 16), (50, 16), (48, 48), (40, 1)])
def test_overlap_add_is_the_scatter_add(n_fft, hop):
    from eqx_multimodal.nn._signal import _overlap_add

    pieces = jnp.asarray(np.random.default_rng(0).normal(size=(7, n_fft)).astype(np.float32))
    starts = hop * np.arange(7)[:, None] + np.arange(n_fft)[None, :]
    total = 6 * hop + n_fft
    expected = jnp.zeros(total).at[starts].add(pieces)
    np.testing.assert_allclose(_overlap_add(pieces, hop)[:total], expected, atol=1e-5)


@pytest.mark.slow
def test_frozen_steps_train_the_generators_alone(tmp_path):
    """In the last `frozen_steps`, the shared-latent model does not move (not by its
    gradients, Adam's momentum or the weight decay) and the generators do."""
    from eqx_multimodal.guide import SyntheticConfig
    from eqx_multimodal.training import fit
    from eqx_multimodal.training._checkpoint import read_index

    data = SyntheticConfig(
        image_shape=(8, 8, 1), vocab_size=50, seq_length=8, sample_rate=4000, duration=0.25
    )
    config = TrainConfig(
        data=data,
        towers="generic",
        steps=5,
        warmup_steps=1,
        batch_size=8,
        val_gallery=8,
        latent_dim=16,
        d_model=16,
        checkpoint_every=1,
        eval_every=1,
        keep=10,
        generation=GenerationConfig(width=16, z_dim=4, frozen_steps=2),
    )
    state, _ = fit(config, tmp_path / "run", progress=False)
    at = {
        step: eqx.tree_deserialise_leaves(
            tmp_path / "run" / "checkpoints" / f"step-{step:07d}.eqx", state
        )
        for step in (2, 3, 5)
    }

    def params(tree):
        return eqx.filter(tree, eqx.is_inexact_array)

    assert not tree_equal(params(at[2].model), params(at[3].model))  # the last joint step
    assert tree_equal(params(at[3].model), params(at[5].model))
    assert not tree_equal(params(at[3].generators), params(at[5].generators))
    # Validated every step, the frozen model scores the same from step 3 on: the best
    # checkpoint is the last, whose generators trained alone, not an earlier one.
    assert read_index(tmp_path / "run")["best"]["step"] == 5
    # The phases are fixed by `steps`: a resumed run may not move them.
    longer = dataclasses.replace(config, steps=7)
    with pytest.raises(ValueError, match="cannot resume with `steps` 7"):
        fit(longer, tmp_path / "run", resume=True, progress=False)


def test_the_generators_own_steps_warm_up_again():
    from eqx_multimodal.training import make_optimizer

    config = TrainConfig(steps=10, warmup_steps=2, generation=GenerationConfig(frozen_steps=4))
    # Adam's update of a constant unit gradient (at a zero weight) is the learning rate.
    optimizer = make_optimizer(config)
    params = {"w": jnp.zeros(())}
    state = optimizer.init(params)
    sizes = []
    for _ in range(10):
        with jax.numpy_dtype_promotion("standard"):  # optax's step count is int32
            updates, state = optimizer.update({"w": jnp.ones(())}, state, params)
        sizes.append(float(-updates["w"]))
    peak = config.learning_rate
    assert sizes[0] == 0.0 and sizes[6] == 0.0  # warm-up starts at 0, twice
    assert sizes[2] == pytest.approx(peak, rel=1e-3)
    assert sizes[8] == pytest.approx(peak, rel=1e-3)
    assert 0 < sizes[5] < 0.5 * peak


def test_frozen_steps_are_checked():
    with pytest.raises(ValueError, match="frozen_steps` 10 must be below `steps` 10"):
        TrainConfig(steps=10, generation=GenerationConfig(frozen_steps=10))
    with pytest.raises(ValueError, match="frozen_steps"):
        GenerationConfig(frozen_steps=-1)
    config = TrainConfig(steps=10, generation=GenerationConfig(frozen_steps=4))
    assert TrainConfig.from_json(config.to_json()) == config

"""The guide's model code, with only the imports changed (and the usage lines run)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_multimodal import nnx as shim

from .test_nnx_data import _rngs_classes


@pytest.fixture(params=_rngs_classes())
def Rngs(request):
    return request.param


@pytest.fixture(scope="module")
def sample():
    dataset = shim.create_synthetic_multi_modal_dataset(
        modalities=["image", "text", "audio"], num_samples=4, rngs=shim.Rngs(0)
    )
    return dataset[0]


@pytest.mark.slow
def test_guide_fusion_usage(Rngs, sample):
    from eqx_multimodal.nnx import early_fusion, late_fusion, MultiModalAttentionFusion

    fused_features = early_fusion(sample["image"], sample["text"], sample["audio"])
    assert fused_features.shape == (32 * 32 * 3 + 50 + 16000,)

    # Usage
    rngs = Rngs(0)
    fusion = MultiModalAttentionFusion(d_model=256, num_heads=4, rngs=rngs)

    key = jax.random.key(1)
    image_emb, text_emb, audio_emb = jax.random.normal(key, (3, 256))
    fused = fusion(image_emb, text_emb, audio_emb)
    assert fused.shape == (256,)  # (256,)
    assert bool(jnp.all(jnp.isfinite(fused)))

    fused = late_fusion(image_emb, text_emb, audio_emb)
    np.testing.assert_allclose(
        fused, 0.4 * image_emb + 0.4 * text_emb + 0.2 * audio_emb, rtol=1e-6, atol=1e-6
    )
    # Batches, jit and vmap.
    batch = jax.random.normal(key, (3, 5, 256))
    assert fusion(*batch).shape == (5, 256)
    np.testing.assert_allclose(fusion(*batch)[2], fusion(*batch[:, 2]), rtol=1e-5, atol=1e-6)
    jitted = jax.jit(lambda f, a, b, c: f(a, b, c, deterministic=True))(fusion, *batch)
    np.testing.assert_allclose(jitted, fusion(*batch), rtol=1e-5, atol=1e-6)
    vmapped = jax.vmap(fusion)(*batch)
    np.testing.assert_allclose(vmapped, fusion(*batch), rtol=1e-5, atol=1e-6)


def test_guide_fusion_num_heads_is_used():
    a = shim.MultiModalAttentionFusion(d_model=64, num_heads=1, rngs=shim.Rngs(0))
    b = shim.MultiModalAttentionFusion(d_model=64, num_heads=8, rngs=shim.Rngs(0))
    assert a.fusion.attention.num_heads == 1 and b.fusion.attention.num_heads == 8
    with pytest.raises(ValueError, match="divisible by `num_heads`"):
        shim.MultiModalAttentionFusion(d_model=64, num_heads=3, rngs=shim.Rngs(0))


def test_guide_text_to_image_usage(Rngs, sample):
    from eqx_multimodal.nnx import TextToImageGenerator

    rngs = Rngs(0)
    generator = TextToImageGenerator(
        vocab_size=10000, embed_dim=256, image_shape=(32, 32, 3), rngs=rngs
    )
    generated_image = generator(sample["text"])
    assert generated_image.shape == (32, 32, 3)
    assert 0 <= float(generated_image.min()) and float(generated_image.max()) <= 1
    batch = jnp.stack([sample["text"], sample["text"][::-1]])
    assert generator(batch).shape == (2, 32, 32, 3)
    np.testing.assert_allclose(
        jax.jit(lambda g, t: g(t))(generator, batch), generator(batch), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_guide_image_to_text_usage(Rngs, sample):
    from eqx_multimodal.nnx import ImageToTextGenerator

    rngs = Rngs(0)
    generator = ImageToTextGenerator(
        image_shape=(32, 32, 3), vocab_size=10000, max_length=50, rngs=rngs
    )
    generated_text = generator(sample["image"], rngs=rngs)
    assert generated_text.shape == (50,) and generated_text.dtype == jnp.int32
    again = generator(sample["image"], rngs=rngs)
    assert not np.array_equal(generated_text, again)  # a new key each call
    greedy = generator(sample["image"])
    np.testing.assert_array_equal(greedy, generator(sample["image"]))
    # The decoder is autoregressive: not one logit vector repeated.
    assert len(np.unique(np.asarray(generated_text))) > 1
    jitted = jax.jit(lambda g, x, k: g(x, key=k))(
        generator, sample["image"][None], jax.random.key(0)
    )
    assert jitted.shape == (1, 50)


def test_guide_text_to_audio_usage(Rngs, sample):
    from eqx_multimodal.nnx import TextToAudioGenerator

    rngs = Rngs(0)
    generator = TextToAudioGenerator(vocab_size=10000, embed_dim=256, audio_length=16000, rngs=rngs)
    generated_audio = generator(sample["text"])
    assert generated_audio.shape == (16000,)
    assert float(jnp.abs(generated_audio).max()) <= 1.0


def test_shim_modules_are_trainable_equinox_modules():
    import optax

    rngs = shim.Rngs(0)
    generator = shim.TextToImageGenerator(
        vocab_size=50, embed_dim=16, image_shape=(4, 4, 1), rngs=rngs
    )
    tokens = jnp.arange(20, dtype=jnp.int32).reshape(2, 10)
    images = jnp.stack([jnp.zeros((4, 4, 1)), jnp.ones((4, 4, 1))])
    optimiser = optax.adam(1e-2)
    state = optimiser.init(eqx.filter(generator, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(g, s):
        loss, grads = eqx.filter_value_and_grad(lambda g: jnp.mean((g(tokens) - images) ** 2))(g)
        with jax.numpy_dtype_promotion("standard"):
            updates, s = optimiser.update(grads, s)
        return eqx.apply_updates(g, updates), s, loss

    generator, state, first = step(generator, state)
    for _ in range(50):
        generator, state, loss = step(generator, state)
    assert float(loss) < 0.1 * float(first)

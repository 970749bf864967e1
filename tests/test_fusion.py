import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from eqx_multimodal import nn


MASKS = [jnp.array(m, bool) for m in itertools.product([False, True], repeat=3)]
IDS = ["".join("x" if b else "-" for b in m.tolist()) for m in MASKS]


@pytest.fixture(scope="module", params=["attention", "gated"])
def fusion(request):
    if request.param == "attention":
        return nn.AttentionFusion(32, 4, 3, key=jr.key(0))
    return nn.GatedFusion(32, 3, key=jr.key(0))


@pytest.mark.slow
@pytest.mark.parametrize("present", MASKS, ids=IDS)
def test_every_presence_mask_is_finite_with_zero_gradient_to_missing(fusion, present):
    embeddings = jr.normal(jr.key(1), (3, 32))
    # Missing modalities may hold anything, even NaN: it must not leak.
    embeddings = jnp.where(present[:, None], embeddings, jnp.nan)
    out = fusion(embeddings, present)
    assert out.shape == (32,) and bool(jnp.all(jnp.isfinite(out)))
    grads = jax.grad(lambda e: jnp.sum(fusion(e, present) ** 2))(embeddings)
    for m in range(3):
        if present[m]:
            assert bool(jnp.all(jnp.isfinite(grads[m]))) and float(jnp.abs(grads[m]).sum()) > 0
        else:
            np.testing.assert_array_equal(grads[m], 0.0)


@pytest.mark.parametrize("present", MASKS[1:], ids=IDS[1:])
def test_missing_modalities_do_not_change_the_output(fusion, present):
    a = jr.normal(jr.key(2), (3, 32))
    b = jnp.where(present[:, None], a, 100.0 * jr.normal(jr.key(3), (3, 32)))
    np.testing.assert_allclose(fusion(a, present), fusion(b, present), rtol=1e-5, atol=1e-5)


def test_attention_uses_its_heads():
    embeddings = jr.normal(jr.key(4), (3, 32))
    one = nn.AttentionFusion(32, 1, 3, key=jr.key(0))
    four = nn.AttentionFusion(32, 4, 3, key=jr.key(0))
    # Same parameters, split into a different number of heads: different attention.
    four = jax.tree.map(lambda x: x, four)
    import equinox as eqx

    four = eqx.tree_at(
        lambda f: f.attention,
        four,
        eqx.tree_at(
            lambda a: (a.query_proj, a.key_proj, a.value_proj, a.output_proj),
            four.attention,
            (
                one.attention.query_proj,
                one.attention.key_proj,
                one.attention.value_proj,
                one.attention.output_proj,
            ),
        ),
    )
    four = eqx.tree_at(
        lambda f: (f.modality_embedding, f.norm, f.output),
        four,
        (one.modality_embedding, one.norm, one.output),
    )
    assert not np.allclose(one(embeddings), four(embeddings), atol=1e-6)


def test_attention_heads_must_divide_d_model():
    with pytest.raises(
        ValueError,
        match="`d_model` must be divisible by `num_heads`, got d_model=30 and num_heads=4",
    ):
        nn.AttentionFusion(30, 4, key=jr.key(0))


def test_attention_dropout_needs_a_key_and_respects_inference():
    fusion = nn.AttentionFusion(32, 4, 3, dropout=0.5, key=jr.key(0))
    x = jr.normal(jr.key(1), (3, 32))
    with pytest.raises(RuntimeError, match="requires a key"):
        fusion(x)
    a = fusion(x, key=jr.key(2))
    b = fusion(x, key=jr.key(3))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(fusion(x, inference=True), fusion(x, inference=True))


def test_gates_are_a_distribution_over_present_modalities():
    fusion = nn.GatedFusion(16, 3, key=jr.key(0))
    x = jr.normal(jr.key(1), (3, 16))
    gates = fusion.gates(x, jnp.array([True, False, True]))
    assert float(gates[1]) == 0.0
    np.testing.assert_allclose(float(gates.sum()), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(fusion.gates(x, jnp.zeros(3, bool)), 0.0)


def test_early_and_late_fusion():
    image, text, audio = jnp.ones((2, 2, 3)), jnp.arange(4), jnp.full(5, 2.0)
    fused = nn.early_fusion(image, text, audio)
    assert fused.shape == (21,) and fused.dtype == jnp.float32
    np.testing.assert_array_equal(fused[12:16], [0, 1, 2, 3])
    a, b, c = jnp.ones(4), jnp.zeros(4), jnp.full(4, 2.0)
    np.testing.assert_allclose(nn.late_fusion(a, b, c), 0.4 + 0.4 * 0 + 0.2 * 2)
    np.testing.assert_allclose(nn.late_fusion(a, b, c, mode="mean"), 1.0)
    assert nn.late_fusion(a, b, c, mode="concat").shape == (12,)
    np.testing.assert_allclose(nn.late_fusion(a, b, c, weights=[0, 0, 1]), 2.0)
    np.testing.assert_allclose(nn.late_fusion(a, c), 1.5)  # equal weights for two


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(weights=[0.5, 0.5]), ValueError, r"`weights` must have one entry an embedding \(3\)"),
        (dict(weights=[0.5, -0.5, 1.0]), ValueError, "`weights` must be finite and non-negative"),
        (dict(weights=[0.5, float("nan"), 1.0]), ValueError, "finite and non-negative"),
        (dict(mode="max"), ValueError, "`mode` must be one of"),
    ],
)
def test_late_fusion_validates(kwargs, error, message, without_runtime_typecheck):
    a = jnp.ones(4)
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        nn.late_fusion(a, a, a, **kwargs)
    with without_runtime_typecheck(), pytest.raises(ValueError, match="same shape"):
        nn.late_fusion(jnp.ones(4), jnp.ones(5))

"""The contract every module and generator keeps (the table is in helpers.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

from eqx_multimodal.testing import check_module

from .helpers import MODULE_CASES, tree_allclose


CASES = [pytest.param(case, id=case.name) for case in MODULE_CASES]


def _batch(case, key, size):
    keys = jr.split(key, size)
    inputs = jax.vmap(case.inputs)(keys)
    targets = jax.vmap(case.target)(keys)
    return inputs, targets


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_module_contract(case, getkey):
    # The contract users check their own modules with (`eqx_multimodal.testing`):
    # stable shapes, finite values, jit == eager, vmap == loop, the key's role, finite
    # gradients.
    module = case.make(getkey())
    inputs = case.inputs(getkey())
    out = check_module(module, inputs, key=getkey(), call=case.call, random=case.random)
    assert out.shape == case.out_shape and out.dtype == case.out_dtype


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_initialisation_key(case, getkey):
    key, other = getkey(), getkey()
    inputs = case.inputs(getkey())
    same = case.call(case.make(key), inputs, None)
    again = case.call(case.make(key), inputs, None)
    different = case.call(case.make(other), inputs, None)
    assert tree_allclose(same, again, rtol=0, atol=0)
    assert not np.array_equal(same, different)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_overfits_a_tiny_batch(case, getkey):
    module = case.make(getkey())
    inputs, targets = _batch(case, getkey(), 2)
    optimiser = optax.adam(optax.cosine_decay_schedule(case.learning_rate, case.steps))
    state = optimiser.init(eqx.filter(module, eqx.is_inexact_array))

    def loss_fn(m):
        return jnp.mean(jax.vmap(lambda x, t: case.loss(m, x, t))(inputs, targets))

    @eqx.filter_jit
    def step(m, s):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(m)
        # optax's bias correction mixes a weak float with an int32 count: not clean
        # under strict promotion (upstream).
        with jax.numpy_dtype_promotion("standard"):
            updates, s = optimiser.update(grads, s, eqx.filter(m, eqx.is_inexact_array))
        return eqx.apply_updates(m, updates), s, loss, grads

    module, state, first, grads = step(module, state)
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.abs(g).max()) > 0 for g in leaves)
    for _ in range(case.steps):
        module, state, loss, _ = step(module, state)
    last = float(loss_fn(module))
    assert np.isfinite(last)
    assert last <= case.final_fraction * float(first), (float(first), last)

"""Checks of the contract every module of the library keeps, for your modules too.

Each raises an `AssertionError` that says which part of the contract broke.
"""

import inspect
import itertools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray


def tree_allclose(a: Any, b: Any, *, rtol: float | int = 1e-5, atol: float | int = 1e-8) -> bool:
    """Whether two pytrees have the same structure and every pair of leaves the same
    shape and dtype, floats within `rtol` and `atol` (NaN equal to NaN), anything else
    equal.

    ```python
    >>> import jax.numpy as jnp
    >>> tree_allclose({"a": jnp.ones(2)}, {"a": jnp.ones(2) + 1e-9}), tree_allclose(1, 2)
    (True, False)

    ```
    """
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    if tree_a != tree_b:
        return False
    for x, y in zip(leaves_a, leaves_b):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if np.issubdtype(x.dtype, np.inexact):
            if not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def _takes_key(module: Any) -> bool:
    try:
        return "key" in inspect.signature(module).parameters
    except (TypeError, ValueError):  # pragma: no cover - not introspectable
        return False


def _default_call(module: Any, example: tuple, key: PRNGKeyArray | None) -> Any:
    if _takes_key(module):
        return module(*example, key=key)
    return module(*example)


def _perturbed(example: tuple, count: int) -> tuple:
    """`count` examples stacked: the given one, and copies with float values nudged."""

    def stack(x: Any) -> Any:
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.stack([x + 0.01 * i for i in range(count)])
        return jnp.stack([x] * count)

    return tuple(stack(x) for x in example)


def check_module(
    module: Any,
    example: Any,
    *,
    key: PRNGKeyArray,
    call: Callable[[Any, tuple, PRNGKeyArray | None], Any] | None = None,
    random: bool | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> Any:
    """Assert the contract of a module on one example: a stable output shape and dtype,
    finite values, `jax.jit` equal to eager, `jax.vmap` equal to a loop, the same key
    giving the same output (and, when `random`, another key another output), and
    finite gradients with respect to its parameters.

    **Arguments:**

    - `module`: an `eqx.Module` (or any callable pytree) that takes one example.
    - `example`: the module's inputs for one example: an array or a tuple of them.
    - `key`: keyword only. The key passed to calls that take one.
    - `call`: keyword only. How to call it: `call(module, example_tuple, key)`;
        default `module(*example, key=key)` when its `__call__` takes a `key`, else
        `module(*example)`.
    - `random`: keyword only. Whether the output depends on the key (True: another key
        must change it; False: it must not; None: not checked).
    - `rtol`, `atol`: keyword only. Tolerances of the jit and vmap comparisons.

    **Returns:**

    The module's output on `example`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.nn import MLPEncoder
    >>> out = check_module(MLPEncoder((4,), 8, 2, key=jr.key(0)), jnp.ones(4), key=jr.key(1))
    >>> out.shape
    (2,)

    ```
    """
    example = example if isinstance(example, tuple) else (example,)
    call = _default_call if call is None else call
    out = call(module, example, key)
    for leaf in jax.tree.leaves(out):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            assert bool(jnp.all(jnp.isfinite(leaf))), "the output is not finite"
    again = call(module, example, key)
    assert tree_allclose(out, again, rtol=0.0, atol=0.0), "the same key gave another output"
    jitted = eqx.filter_jit(call)(module, example, key)
    assert tree_allclose(out, jitted, rtol=rtol, atol=atol), "jax.jit changes the output"
    batch = _perturbed(example, 3)
    vmapped = eqx.filter_jit(jax.vmap(call, in_axes=(None, 0, None)))(module, batch, key)
    single = eqx.filter_jit(call)
    looped = [single(module, tuple(x[i] for x in batch), key) for i in range(3)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *looped)
    assert tree_allclose(vmapped, stacked, rtol=rtol, atol=atol), "jax.vmap differs from a loop"
    if random is not None:
        other = call(module, example, jr.fold_in(key, 1))
        differs = not tree_allclose(out, other, rtol=0.0, atol=0.0)
        if random:
            assert differs, "another key gave the same output, but the module is random"
        else:
            assert not differs, "another key changed the output of a deterministic module"

    def loss(m: Any) -> Any:
        outputs = [
            x
            for x in jax.tree.leaves(call(m, example, key))
            if jnp.issubdtype(x.dtype, jnp.inexact)
        ]
        return sum(jnp.sum(x.astype(jnp.float32) ** 2) for x in outputs)

    if any(jnp.issubdtype(x.dtype, jnp.inexact) for x in jax.tree.leaves(out)):
        grads = eqx.filter_grad(loss)(module)
        for leaf in jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array)):
            assert bool(jnp.all(jnp.isfinite(leaf))), "a gradient is not finite"
    return out


@eqx.filter_jit
def _fused_and_gradient(fusion: Any, embeddings: Any, present: Any) -> tuple[Any, Any]:
    # One compilation serves every mask (the mask is traced).
    out = fusion(embeddings, present)
    grads = jax.grad(lambda e: jnp.sum(fusion(e, present) ** 2))(embeddings)
    return out, grads


def check_fusion(fusion: Any, embeddings: Any) -> None:
    """Assert the presence-mask contract of a fusion layer `fusion(embeddings, present)`
    for every mask of `embeddings` `(num_modalities, d_model)`: the output is finite
    even with NaN in the missing slots, and the missing slots get exactly zero
    gradient (the present ones a finite one).

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal.nn import GatedFusion
    >>> check_fusion(GatedFusion(8, key=jr.key(0)), jr.normal(jr.key(1), (3, 8)))

    ```
    """
    embeddings = jnp.asarray(embeddings)
    count = embeddings.shape[0]
    for mask in itertools.product([False, True], repeat=count):
        present = jnp.asarray(mask, bool)
        poisoned = jnp.where(present[:, None], embeddings, jnp.nan)
        out, grads = _fused_and_gradient(fusion, poisoned, present)
        assert bool(jnp.all(jnp.isfinite(out))), f"the output is not finite for mask {mask}"
        for m in range(count):
            if mask[m]:
                assert bool(jnp.all(jnp.isfinite(grads[m]))), (
                    f"modality {m} is present in mask {mask} but its gradient is not finite"
                )
            else:
                assert bool(jnp.all(grads[m] == 0)), (
                    f"modality {m} is missing in mask {mask} but gets a gradient"
                )

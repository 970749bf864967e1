import jax
import jax.numpy as jnp
import numpy as np


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8) -> bool:
    """Same structure, and every pair of leaves allclose (exactly equal for integers)."""
    leaves_x, tree_x = jax.tree.flatten(x)
    leaves_y, tree_y = jax.tree.flatten(y)
    if tree_x != tree_y:
        return False
    for a, b in zip(leaves_x, leaves_y):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if jnp.issubdtype(a.dtype, jnp.inexact):
            if not np.allclose(a, b, rtol=rtol, atol=atol):
                return False
        elif not np.array_equal(a, b):
            return False
    return True


def tree_equal(x, y) -> bool:
    return tree_allclose(x, y, rtol=0.0, atol=0.0)


def pearson(a, b) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-300))


def run_cli(argv) -> int:
    """The exit status of `eqx-multimodal argv`, whether `main` returns or exits."""
    from eqx_multimodal.cli import main

    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code

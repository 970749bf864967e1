"""Shared pieces of the ceilings: the pairs, the cache version, checks."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._validation import check_real


#: The ordered pairs `achievable_retrieval` reports, `query->gallery`.
CEILING_PAIRS = (
    "image->text",
    "image->audio",
    "text->image",
    "text->audio",
    "audio->image",
    "audio->text",
)

#: Bumped whenever a scorer changes, so that cached results are recomputed.
CEILING_VERSION = 3

_TONE_LOW, _TONE_HIGH = 100.0, 2000.0  # the renderer's tone band, Hz
_MAX_MAGNITUDE = 8.0  # the largest |z| a tone is read as


def _x64():
    """A context in which JAX computes in 64 bits (`jax.enable_x64`, or before JAX 0.6.1
    `jax.experimental.enable_x64`)."""
    enable = getattr(jax, "enable_x64", None)
    if enable is not None:
        return enable(True)
    from jax.experimental import enable_x64  # pyright: ignore[reportAttributeAccessIssue]

    return enable_x64()


def _chunked(fn: Any, arrays: Sequence[Any], chunk: int) -> list[np.ndarray]:
    """`fn(*arrays)` computed `chunk` rows at a time, the last chunk padded with copies
    of its first row (so that `fn` compiles for one batch size), outputs concatenated
    as NumPy arrays."""
    count = len(arrays[0])
    outs: list[list[np.ndarray]] = []
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        parts = []
        for x in arrays:
            part = x[start:stop]
            if stop - start < chunk:
                pad = jnp.repeat(part[:1], chunk - (stop - start), axis=0)
                part = jnp.concatenate([jnp.asarray(part), pad])
            parts.append(jnp.asarray(part) if not isinstance(part, jax.Array) else part)
        result = fn(*parts)
        result = result if isinstance(result, tuple) else (result,)
        outs.append([np.asarray(r)[: stop - start] for r in result])
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))] if outs else []


def _check_alignment(alignment: Any, *, allow_zero: bool = True) -> float:
    a = check_real(alignment, "alignment", low=0.0, high=1.0)
    if not allow_zero and a == 0.0:
        raise ValueError(
            "`alignment` must be > 0: at alignment 0 the observations do not depend on "
            "the latent, so there is nothing to read from them; got 0"
        )
    return a

"""Eager checks of static arguments, with messages that name the argument and the value.

Every public constructor validates through these helpers so that a bad value fails at
the call the user wrote, never deep inside a traced JAX computation.
"""

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.core
import jax.numpy as jnp
import numpy as np


try:  # public in every supported JAX; guard against its eventual move
    _Tracer = jax.core.Tracer
except AttributeError:  # pragma: no cover
    from jax._src.core import Tracer as _Tracer


def is_traced(value: Any) -> bool:
    return isinstance(value, _Tracer)


def check_int(value: Any, name: str, *, minimum: int | None = 1) -> int:
    """An integer (not a bool) no smaller than `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if (
            isinstance(value, np.ndarray | jax.Array)
            and value.shape == ()
            and (jnp.issubdtype(value.dtype, jnp.integer))
        ):
            value = int(value)
        else:
            raise TypeError(f"`{name}` must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        if minimum == 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value}")
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value}")
    return value


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """A finite real number in [low, high] (or (low, high] when `low_open`)."""
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    if isinstance(value, np.ndarray | jax.Array):
        if value.shape != () or not (
            jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)
        ):
            raise TypeError(f"`{name}` must be a real scalar, got {value!r}")
        value = float(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        if low is not None and high is not None:
            bracket = "(" if low_open else "["
            raise ValueError(f"`{name}` must be in {bracket}{low:g}, {high:g}], got {value:g}")
        if low is not None:
            relation = ">" if low_open else ">="
            raise ValueError(f"`{name}` must be {relation} {low:g}, got {value:g}")
        raise ValueError(f"`{name}` must be <= {high:g}, got {value:g}")
    return value


def check_shape(value: Any, name: str, *, length: int) -> tuple[int, ...]:
    """A tuple (or list) of `length` positive integers."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"`{name}` must be a tuple of {length} positive integers, got {value!r}")
    if len(value) != length:
        raise ValueError(f"`{name}` must have {length} entries, got {len(value)}: {tuple(value)!r}")
    out = []
    for entry in value:
        if isinstance(entry, bool) or not isinstance(entry, numbers.Integral):
            raise TypeError(f"`{name}` must contain integers, got {tuple(value)!r}")
        if entry < 1:
            raise ValueError(f"`{name}` must contain positive integers, got {tuple(value)!r}")
        out.append(int(entry))
    return tuple(out)


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, one of {choices}, got {value!r}")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}")
    return value


def check_modalities(value: Any, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A non-empty, duplicate-free selection from `allowed`, returned in `allowed` order."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(
            f"`{name}` must be a list of modality names such as {list(allowed)}, got {value!r}"
        )
    value = list(value)
    if len(value) == 0:
        raise ValueError(f"`{name}` must name at least one of {tuple(allowed)}, got []")
    for entry in value:
        if not isinstance(entry, str):
            raise TypeError(f"`{name}` must contain strings, got {entry!r} in {value!r}")
        if entry not in allowed:
            raise ValueError(
                f"`{name}` contains unknown modality {entry!r}; choose from {tuple(allowed)}"
            )
    duplicates = sorted({entry for entry in value if value.count(entry) > 1})
    if duplicates:
        raise ValueError(f"`{name}` contains duplicates {duplicates}: {value!r}")
    return tuple(m for m in allowed if m in value)


def check_key(value: Any, name: str = "key") -> jax.Array:
    """A JAX PRNG key: a typed key (`jax.random.key`) or a raw uint32 key (`PRNGKey`)."""
    if isinstance(value, jax.Array | _Tracer):
        if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            if value.shape != ():
                raise ValueError(
                    f"`{name}` must be a single PRNG key, got a key array of shape {value.shape}"
                )
            return value
        if value.dtype == np.uint32 and value.shape == (2,):
            return value
    raise TypeError(
        f"`{name}` must be a JAX PRNG key such as `jax.random.key(0)`, got {_describe(value)}"
    )


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray | jax.Array):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return repr(value)

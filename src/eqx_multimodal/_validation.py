"""Eager checks of static arguments, with messages that name the argument and the value.

Every public constructor validates through these helpers so that a bad value fails at
the call the user wrote, never deep inside a traced JAX computation.
"""

import contextlib
import contextvars
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


_NAMES: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("names", default={})


@contextlib.contextmanager
def argument_names(names: Mapping[str, str]) -> Iterator[None]:
    """Inside this block, errors name arguments as the caller spells them.

    A wrapper with its own argument names (the guide's `alignment_strength`, the command
    line's `--vocab-size`) builds the library's objects inside
    `with argument_names({"alignment": "alignment_strength"}):`, so that the one set of
    checks reports the names its user wrote.
    """
    token = _NAMES.set({**_NAMES.get(), **names})
    try:
        yield
    finally:
        _NAMES.reset(token)


def refused_input(error: BaseException) -> bool:
    """Whether `error` is one of this package's refusals of a value: a ValueError,
    TypeError or LookupError raised by a `raise` statement in the package's own code
    (every check names the argument and the value), not one that Python, NumPy or JAX
    raised on the way (a bug), which the command line reports as a bug."""
    import dis
    import os

    if not isinstance(error, ValueError | TypeError | LookupError):
        return False
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    package = os.path.dirname(os.path.abspath(__file__))
    if not os.path.abspath(code.co_filename).startswith(package + os.sep):
        return False
    return code.co_code[tb.tb_lasti] == dis.opmap["RAISE_VARARGS"]


def shown(name: str) -> str:
    """`name` as the caller spells it (see `argument_names`)."""
    return _NAMES.get().get(name, name)


def check_int(value: Any, name: str, *, minimum: int | None = 1, maximum: int | None = None) -> int:
    """An integer (not a bool) in [`minimum`, `maximum`]."""
    name = shown(name)
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
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum:,}, got {value:,}")
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
    name = shown(name)
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
    name = shown(name)
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
    """One of `choices`."""
    name = shown(name)
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, one of {choices}, got {value!r}")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}")
    return value


def check_modalities(value: Any, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A non-empty, duplicate-free selection from `allowed`, returned in `allowed` order."""
    name = shown(name)
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


def check_indices(value: Any, length: int, name: str = "indices") -> np.ndarray:
    """Positions into a sequence of `length` items: integers in [0, length), as int64.

    Booleans are refused (`[True, False]` would be positions 1 and 0, not a mask; pass
    `np.flatnonzero(mask)`), and so are fractions (`0.5` is no position).
    """
    name = shown(name)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable | np.ndarray | jax.Array):
        raise TypeError(f"`{name}` must be a list or array of integer positions, got {value!r:.60}")
    rows = np.asarray(value)
    if rows.size == 0:
        return np.zeros((0,), np.int64)
    if rows.dtype == np.bool_:
        raise TypeError(
            f"`{name}` must hold integer positions, got booleans; for a mask pass "
            "`np.flatnonzero(mask)`"
        )
    if rows.dtype.kind not in "iu":
        raise TypeError(f"`{name}` must hold integer positions, got {rows.dtype}: {value!r:.60}")
    rows = rows.reshape(-1)
    if rows.min() < 0 or rows.max() >= length:
        raise IndexError(f"`{name}` must be in [0, {length}), got {rows.min()}..{rows.max()}")
    return rows.astype(np.int64)


def check_key(value: Any, name: str = "key") -> jax.Array:
    """A JAX PRNG key: a typed key (`jax.random.key`) or a raw uint32 key (`PRNGKey`)."""
    name = shown(name)
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


#: Seeds are 64-bit: the two 32-bit words of a threefry key.
MAX_SEED = 2**64 - 1


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed in [0, 2**64): every one maps to its own key (see `seed_key`)."""
    return check_int(value, name, minimum=0, maximum=MAX_SEED)


def seed_key(seed: int, name: str = "seed") -> jax.Array:
    """The key of a seed in [0, 2**64): `jax.random.key(seed)` below 2**32, and above it
    the key whose two 32-bit words are the seed's, as `jax.random.key` makes it with
    64-bit integers enabled. Distinct seeds give distinct keys; nothing wraps around.
    """
    seed = check_seed(seed, name)
    if seed < 2**32:
        return jax.random.key(seed)
    impl = jax.random.key_impl(jax.random.key(0))
    if str(impl) != "threefry2x32":
        raise ValueError(f"`{shown(name)}` must be below 2**32 with the {impl} PRNG, got {seed}")
    words = jnp.asarray([seed >> 32, seed & 0xFFFFFFFF], dtype=jnp.uint32)
    return jax.random.wrap_key_data(words, impl="threefry2x32")


def memory_bytes() -> int | None:
    """The machine's physical memory in bytes (None where the system does not say)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def check_fits(nbytes: int, what: str, name: str) -> None:
    """Refuse to make `what` (`nbytes` bytes) when it would take more than half of the
    machine's memory, naming the argument `name` that sets its size."""
    total = memory_bytes()
    if total is not None and nbytes > total // 2:
        raise ValueError(
            f"`{shown(name)}`: {what} would take {nbytes / 2**30:,.1f} GiB, more than half of "
            f"this machine's {total / 2**30:,.1f} GiB of memory; make it smaller"
        )


def check_alignments(alignments: Sequence[float], name: str = "alignments") -> tuple[float, ...]:
    """A non-empty sequence of distinct alignment strengths in [0, 1]."""
    shown_name = shown(name)
    if isinstance(alignments, str) or not isinstance(alignments, Sequence) or not alignments:
        raise TypeError(
            f"`{shown_name}` must be a non-empty list of numbers in [0, 1], got {alignments!r}"
        )
    values = tuple(
        check_real(a, f"{shown_name}[{i}]", low=0.0, high=1.0) for i, a in enumerate(alignments)
    )
    if len(set(values)) != len(values):
        raise ValueError(f"`{shown_name}` must not repeat a value, got {list(values)}")
    return values

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from .._validation import check_key


def _as_key(seed_or_key: Any, name: str) -> PRNGKeyArray:
    if isinstance(seed_or_key, bool):
        raise TypeError(f"`{name}` must be an integer seed or a PRNG key, got {seed_or_key!r}")
    if isinstance(seed_or_key, numbers.Integral):
        return jr.key(int(seed_or_key))
    if (
        isinstance(seed_or_key, np.ndarray | jax.Array)
        and seed_or_key.shape == ()
        and (jnp.issubdtype(seed_or_key.dtype, jnp.integer))
    ):
        return jr.key(int(seed_or_key))
    return check_key(seed_or_key, name)


class RngStream:
    """A named stream of keys: call it for the next one (`fold_in(key, count)`)."""

    def __init__(self, key: PRNGKeyArray, name: str):
        self.key = key
        self.name = name
        self.count = 0

    def __call__(self) -> PRNGKeyArray:
        key = jr.fold_in(self.key, self.count)
        self.count += 1
        return key

    def __repr__(self) -> str:
        return f"RngStream({self.name!r}, count={self.count})"


class Rngs:
    """A stand-in for `flax.nnx.Rngs`, so that the guide's code runs without Flax.

    `Rngs(0)` has one stream, `default`; `Rngs(0, sample=1)` adds a `sample` stream.
    `rngs()` draws from `default`; `rngs.params()`, `rngs.sample()`, ... draw from the
    named stream, or from `default` when there is none; `"sample" in rngs` tells whether
    a stream is defined. Each draw is a new key. Everywhere the shim takes `rngs`, a
    `flax.nnx.Rngs` works too.

    ```python
    >>> rngs = Rngs(0)
    >>> a, b = rngs.params(), rngs.params()
    >>> bool((jax.random.key_data(a) != jax.random.key_data(b)).any())
    True
    >>> "sample" in rngs, "sample" in Rngs(0, sample=1)
    (False, True)

    ```
    """

    def __init__(self, default: Any = None, /, **streams: Any):
        keys = dict(streams)
        if default is not None:
            keys["default"] = default
        if not keys:
            raise TypeError("Rngs needs a seed or a key, e.g. Rngs(0)")
        self._streams = {
            name: RngStream(_as_key(value, name), name) for name, value in keys.items()
        }

    def __call__(self) -> PRNGKeyArray:
        return self.default()

    def __getattr__(self, name: str) -> RngStream:
        if name.startswith("_"):
            raise AttributeError(name)
        streams = self.__dict__["_streams"]
        if name in streams:
            return streams[name]
        if "default" in streams:
            return streams["default"]
        raise AttributeError(f"Rngs has no stream {name!r} and no default stream")

    def __contains__(self, name: object) -> bool:
        return name in self._streams

    def __repr__(self) -> str:
        return f"Rngs({', '.join(repr(s) for s in self._streams.values())})"


def next_key(rngs: Any, stream: str = "default", *, name: str = "rngs") -> PRNGKeyArray:
    """The next key of `stream` from an `Rngs` (this shim's or `flax.nnx.Rngs`)."""
    if rngs is None or isinstance(rngs, bool | numbers.Number | str):
        raise TypeError(
            f"`{name}` must be an Rngs object such as `Rngs(0)` or `flax.nnx.Rngs(0)`, got {rngs!r}"
        )
    draw = rngs if stream == "default" else getattr(rngs, stream, None)
    if not callable(draw):
        raise TypeError(
            f"`{name}` must be an Rngs object such as `Rngs(0)` or `flax.nnx.Rngs(0)`, got {rngs!r}"
        )
    key = draw()
    return check_key(key, f"{name}.{stream}()")


def has_stream(rngs: Any, stream: str) -> bool:
    try:
        return stream in rngs
    except TypeError:
        return False

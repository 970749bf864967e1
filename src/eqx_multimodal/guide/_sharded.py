"""The synthetic data made on a device mesh: each device renders only its own rows."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray

from .._validation import check_key
from ..distributed import check_batch_size, DATA_AXIS, shard_map
from ._synthetic import ordered, render_batch, Sample
from ._synthetic_config import SyntheticConfig


def sharded_synthetic_batch(
    start: Int[ArrayLike, ""],
    batch_size: int,
    *,
    key: PRNGKeyArray,
    config: SyntheticConfig,
    mesh: Mesh,
) -> Sample:
    """Items `start, ..., start + batch_size - 1` of the synthetic dataset with key `key`,
    split along the `"data"` axis of `mesh`: each device makes only the rows it holds.

    The result equals `synthetic_batch(start + arange(batch_size), key=key,
    config=config)` (item `i` is a pure function of `(key, i)`), laid out with
    `batch_sharding(mesh)`. It may be called inside `jax.jit` (the key, `start` and the
    alignment may be traced), and, with several processes, every process calls it alike
    and makes only the rows of its own devices.

    **Arguments:**

    - `start`: the index of the first item (an integer, possibly traced).
    - `batch_size`: how many items; a multiple of the size of the `"data"` axis.
    - `key`: keyword only. The dataset's key.
    - `config`: keyword only. A `SyntheticConfig`.
    - `mesh`: keyword only. A mesh with a `"data"` axis (`data_mesh()`).

    **Returns:**

    A dict of global arrays with a leading axis of `batch_size`, in the order of
    `synthetic_batch`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal import data_mesh, synthetic_batch
    >>> config = SyntheticConfig(image_shape=(8, 8, 3), modalities=["image"])
    >>> batch = sharded_synthetic_batch(0, 4, key=jr.key(0), config=config, mesh=data_mesh())
    >>> plain = synthetic_batch(jnp.arange(4), key=jr.key(0), config=config)
    >>> bool(jnp.allclose(batch["image"], plain["image"]))
    True

    ```
    """
    check_key(key)
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"`config` must be a SyntheticConfig, got {config!r}")
    local = check_batch_size(batch_size, mesh)

    def make(key: PRNGKeyArray, start: Array, config: SyntheticConfig) -> Sample:
        first = start + jax.lax.axis_index(DATA_AXIS).astype(jnp.uint32) * np.uint32(local)
        return render_batch(key, first + jnp.arange(local, dtype=jnp.uint32), config)

    start = jnp.asarray(start).astype(jnp.uint32)
    spec = PartitionSpec()
    batch = shard_map(make, mesh, (spec, spec, spec), PartitionSpec(DATA_AXIS))(key, start, config)
    return ordered(batch, config)

"""Placing arrays on a mesh: parameters replicated, batches assembled from each
process's rows, and local copies for work a process does alone."""

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array, ArrayLike

from ._mesh import batch_sharding, check_batch_size, DATA_AXIS, data_size, replicated_sharding


def process_rows(batch_size: int, mesh: Mesh) -> tuple[int, int]:
    """The rows `[start, stop)` of a global batch that this process's devices hold.

    A process reads exactly these items (of `batch_sharding(mesh)`), then
    `shard_batch` assembles the global batch. With one process: `(0, batch_size)`.

    ```python
    >>> from eqx_multimodal.distributed import data_mesh
    >>> process_rows(8, data_mesh())
    (0, 8)

    ```
    """
    check_batch_size(batch_size, mesh)
    index_map = batch_sharding(mesh).addressable_devices_indices_map((batch_size,))
    indices = [index for index in index_map.values() if index is not None]
    rows = sorted({index[0].indices(batch_size)[:2] for index in indices})
    start, stop = rows[0][0], rows[-1][1]
    if sum(b - a for a, b in rows) != stop - start:
        raise ValueError(
            "this process's devices do not hold one contiguous block of the batch; order "
            "the devices of the mesh by process (as `jax.devices()` does)"
        )
    return start, stop


def shard_batch(local: Mapping[str, ArrayLike], mesh: Mesh) -> dict[str, Array]:
    """The global batch, from this process's slice of it.

    Every process passes its own rows (`process_rows`), all with the same leading
    length; the result is a dict of global arrays split along the `"data"` axis
    (`jax.make_array_from_process_local_data`), whose rows are the slices of process 0,
    1, ... in turn. Nothing is copied between processes. Non-array entries (such as a
    `PairedDataset`'s `"pairs"`) are dropped.

    **Arguments:**

    - `local`: a dict of arrays (NumPy or JAX) with a leading batch axis.
    - `mesh`: a mesh with a `"data"` axis.

    **Returns:**

    A dict of global `jax.Array`s, `jax.process_count()` times as long.
    """
    sharding = batch_sharding(mesh)
    devices = data_size(mesh)
    out = {}
    for name, value in local.items():
        if isinstance(value, list | tuple | str):
            continue
        value = np.asarray(value)
        if value.ndim == 0:
            raise ValueError(f"`local[{name!r}]` must have a leading batch axis, got a scalar")
        global_rows = value.shape[0] * jax.process_count()
        if global_rows % devices != 0:
            raise ValueError(
                f"a global batch of {global_rows} rows ({value.shape[0]} from each of "
                f"{jax.process_count()} processes) does not divide evenly over the {devices} "
                f"devices of the mesh's {DATA_AXIS!r} axis"
            )
        out[name] = jax.make_array_from_process_local_data(sharding, value)
    return out


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Every array of `tree` held whole by every device of `mesh` (parameters, optimiser
    state). With several processes each process passes the same values (for example a
    model made from the same key) and no data crosses a host.
    """
    sharding = replicated_sharding(mesh)

    def place(x: Any) -> Any:
        if not isinstance(x, jax.Array | np.ndarray):
            return x
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = replicate(jax.random.key_data(x), mesh)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(place, tree)


def local_copy(tree: Any) -> Any:
    """A copy of a replicated `tree` on one device of this process.

    For work that every process does on its own, such as evaluation or saving a
    checkpoint; computing it on the mesh would repeat it on every device.
    """

    def local(x: Any) -> Any:
        if isinstance(x, jax.Array) and len(x.sharding.device_set) > 1:
            if not x.is_fully_replicated:
                raise ValueError(
                    f"`local_copy` needs replicated arrays, got one with sharding {x.sharding}"
                )
            return x.addressable_data(0)
        return x

    return jax.tree.map(local, tree)

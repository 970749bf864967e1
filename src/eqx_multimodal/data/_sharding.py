"""Batches on a device mesh: each device makes its own shard, each process its own slice.

Data parallelism is JAX's own: a `jax.sharding.Mesh` with a `"data"` axis, parameters
replicated (`PartitionSpec()`), batches split along their leading axis
(`PartitionSpec("data")`). Because item `i` of the synthetic data is a pure function of
`(key, i)`, a device can make exactly the rows it holds (`sharded_synthetic_batch`), and
a process can read exactly its slice of any dataset (`process_rows`, `shard_batch`):
nothing is made twice and no data crosses a host.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, ArrayLike, Int, PRNGKeyArray

from .._validation import check_int, check_key
from ._config import SyntheticConfig
from ._synthetic import _synthetic_batch, Sample, sample_keys


#: The name of the mesh axis that batches are split along.
DATA_AXIS = "data"


def data_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A one-dimensional mesh whose axis `"data"` runs over `devices`.

    **Arguments:**

    - `devices`: the devices, in order; default every visible device (`jax.devices()`:
        with several processes, the devices of all of them).

    **Returns:**

    A `jax.sharding.Mesh` with the single axis `"data"`.

    ```python
    >>> import jax
    >>> mesh = data_mesh()
    >>> mesh.axis_names, mesh.devices.size == jax.device_count()
    (('data',), True)

    ```
    """
    devices = jax.devices() if devices is None else list(devices)
    if len(devices) == 0:
        raise ValueError("`devices` must name at least one device, got []")
    for device in devices:
        if not isinstance(device, jax.Device):
            raise TypeError(f"`devices` must hold jax.Device objects, got {device!r}")
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def _data_size(mesh: Mesh) -> int:
    if not isinstance(mesh, Mesh):
        raise TypeError(f"`mesh` must be a jax.sharding.Mesh, got {mesh!r}")
    if DATA_AXIS not in mesh.axis_names:
        raise ValueError(
            f"`mesh` must have an axis named {DATA_AXIS!r}, got axes {tuple(mesh.axis_names)}"
        )
    return int(mesh.shape[DATA_AXIS])


def check_batch_size(batch_size: int, mesh: Mesh) -> int:
    """The batch size, checked to split evenly over the mesh's `"data"` axis.

    **Returns:**

    The number of rows each device holds.
    """
    batch_size = check_int(batch_size, "batch_size")
    devices = _data_size(mesh)
    if batch_size % devices != 0:
        raise ValueError(
            f"`batch_size` {batch_size} does not divide evenly over the {devices} devices of "
            f"the mesh's {DATA_AXIS!r} axis; choose a multiple of {devices}"
        )
    return batch_size // devices


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays split along their leading axis over the `"data"` axis of `mesh`."""
    _data_size(mesh)
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays held whole by every device of `mesh`."""
    return NamedSharding(mesh, PartitionSpec())


def _shard_map(f, mesh: Mesh, in_specs: Any, out_specs: Any):
    # `jax.shard_map` (JAX >= 0.6.1) replaced `jax.experimental.shard_map.shard_map`,
    # which later versions deprecate; the replication check is named differently.
    if hasattr(jax, "shard_map"):
        return jax.shard_map(  # pyright: ignore[reportAttributeAccessIssue]
            f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False
        )
    from jax.experimental.shard_map import shard_map

    return shard_map(  # pyright: ignore[reportCallIssue]
        f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False
    )


def sharded_synthetic_batch(
    key: PRNGKeyArray,
    start: Int[ArrayLike, ""],
    batch_size: int,
    *,
    config: SyntheticConfig,
    mesh: Mesh,
) -> Sample:
    """Items `start, ..., start + batch_size - 1` of the synthetic dataset with key `key`,
    split along the `"data"` axis of `mesh`: each device makes only the rows it holds.

    The result equals `synthetic_batch(key, start + arange(batch_size), config=config)`
    (item `i` is a pure function of `(key, i)`), laid out with `batch_sharding(mesh)`.
    It may be called inside `jax.jit` (the key, `start` and the alignment may be traced),
    and, with several processes, every process calls it alike and makes only the rows of
    its own devices.

    **Arguments:**

    - `key`: the dataset's key.
    - `start`: the index of the first item (an integer, possibly traced).
    - `batch_size`: how many items; a multiple of the size of the `"data"` axis.
    - `config`: keyword only. A `SyntheticConfig`.
    - `mesh`: keyword only. A mesh with a `"data"` axis (`data_mesh()`).

    **Returns:**

    A dict of global arrays with a leading axis of `batch_size`, in the order of
    `synthetic_batch`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal import synthetic_batch
    >>> config = SyntheticConfig(image_shape=(8, 8, 3), modalities=["image"])
    >>> batch = sharded_synthetic_batch(jr.key(0), 0, 4, config=config, mesh=data_mesh())
    >>> plain = synthetic_batch(jr.key(0), jnp.arange(4), config=config)
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
        return _synthetic_batch(key, first + jnp.arange(local, dtype=jnp.uint32), config)

    start = jnp.asarray(start).astype(jnp.uint32)
    spec = PartitionSpec()
    batch = _shard_map(make, mesh, (spec, spec, spec), PartitionSpec(DATA_AXIS))(key, start, config)
    return {name: batch[name] for name in sample_keys(config)}


def process_rows(batch_size: int, mesh: Mesh) -> tuple[int, int]:
    """The rows `[start, stop)` of a global batch that this process's devices hold.

    A process reads exactly these items (of `batch_sharding(mesh)`), then
    `shard_batch` assembles the global batch. With one process: `(0, batch_size)`.

    ```python
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
    devices = _data_size(mesh)
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

"""The device mesh of data parallelism: one axis, `"data"`, that batches are split along.

Data parallelism is JAX's own: a `jax.sharding.Mesh` with a `"data"` axis, parameters
replicated (`PartitionSpec()`), batches split along their leading axis
(`PartitionSpec("data")`).
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._validation import check_int, shown


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


def data_size(mesh: Mesh) -> int:
    """The size of the mesh's `"data"` axis (checking that it has one)."""
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
    devices = data_size(mesh)
    if batch_size % devices != 0:
        raise ValueError(
            f"`{shown('batch_size')}` {batch_size} does not divide evenly over the {devices} "
            f"devices of the mesh's {DATA_AXIS!r} axis; choose a multiple of {devices}"
        )
    return batch_size // devices


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays split along their leading axis over the `"data"` axis of `mesh`."""
    data_size(mesh)
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays held whole by every device of `mesh`."""
    return NamedSharding(mesh, PartitionSpec())


def shard_map(f: Callable, mesh: Mesh, in_specs: Any, out_specs: Any) -> Callable:
    """`jax.shard_map` of every supported JAX, without its replication check.

    `f` sees each device's block of the arrays; `in_specs` and `out_specs` are
    `PartitionSpec`s (pytrees of them) as for `jax.shard_map`.
    """
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

"""Scaling out with JAX's own machinery: a device mesh, parameters replicated, batches
split over the devices, several processes (`jax.distributed`)."""

from ._mesh import (
    batch_sharding as batch_sharding,
    check_batch_size as check_batch_size,
    DATA_AXIS as DATA_AXIS,
    data_mesh as data_mesh,
    data_size as data_size,
    replicated_sharding as replicated_sharding,
    shard_map as shard_map,
)
from ._placement import (
    local_copy as local_copy,
    process_rows as process_rows,
    replicate as replicate,
    shard_batch as shard_batch,
)
from ._processes import initialize_distributed as initialize_distributed

"""Several processes, one program: `jax.distributed` with collectives on CPUs too."""

import jax

from .._validation import check_int, shown


def initialize_distributed(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """Join a run of `num_processes` processes (`jax.distributed.initialize`).

    Call it in every process before anything else uses JAX. Afterwards
    `jax.devices()` lists the devices of every process, so `data_mesh()` spans them
    all, and `fit` trains on all of them: each process makes only the rows of its own
    devices. On CPUs the processes talk through gloo (where this JAX has the
    `jax_cpu_collectives_implementation` option; otherwise its default is used).

    **Arguments:**

    - `coordinator_address`: `"host:port"` of process 0, the same in every process.
    - `num_processes`: how many processes take part.
    - `process_id`: this process, in `[0, num_processes)`.
    """
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        raise ValueError(
            f"`{shown('coordinator_address')}` must be 'host:port', got {coordinator_address!r}"
        )
    num_processes = check_int(num_processes, "num_processes")
    process_id = check_int(process_id, "process_id", minimum=0)
    if process_id >= num_processes:
        raise ValueError(
            f"`{shown('process_id')}` must be in [0, {num_processes}) for {num_processes} "
            f"processes, got {process_id}"
        )
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, KeyError, ValueError):  # pragma: no cover - not in this JAX
        pass
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )

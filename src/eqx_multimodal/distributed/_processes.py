"""Several processes, one program: `jax.distributed` with collectives on CPUs too."""

from typing import Any

import jax

from .._validation import check_int, shown


#: How long a process waits for the others (and the coordinator) at the start.
DEFAULT_TIMEOUT = 60


def check_address(address: Any, name: str = "coordinator_address") -> tuple[str, int]:
    """`"host:port"` (`"[::1]:port"` for IPv6) whose port is in [1, 65535] and whose
    host resolves: `(host, port)`."""
    import socket

    shown_name = shown(name)
    if not isinstance(address, str) or ":" not in address:
        raise ValueError(f"`{shown_name}` must be 'host:port', got {address!r}")
    host, _, port_text = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port_text.isdigit():
        raise ValueError(f"`{shown_name}` must be 'host:port' with a numeric port, got {address!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"`{shown_name}` {address!r}: the port must be in [1, 65535], got {port}")
    try:
        socket.getaddrinfo(host, port)
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(
            f"`{shown_name}` {address!r}: the host {host!r} does not resolve ({error})"
        ) from None
    return host, port


def initialize_distributed(
    coordinator_address: str,
    num_processes: int,
    process_id: int,
    *,
    timeout: int = DEFAULT_TIMEOUT,
) -> None:
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
    - `timeout`: keyword only. Seconds to wait for the coordinator and the other
        processes; then a `ConnectionError` says who was not reached.
    """
    host, port = check_address(coordinator_address)
    timeout = check_int(timeout, "timeout")
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
    if process_id != 0:
        # JAX ends the process (a fatal error, no exception) when it cannot reach the
        # coordinator in time: reach it first, with an error that can be caught.
        _reach(host, port, timeout, f"process {process_id} of {num_processes}")
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=timeout,
        )
    except Exception as error:  # noqa: BLE001 - jax raises its runtime's own errors
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ConnectionError(
            f"process {process_id} of {num_processes} could not start with the coordinator "
            f"{coordinator_address} within {timeout} s (is process 0 running there, and the "
            f"port open?): {type(error).__name__}: {first}"
        ) from None


def _reach(host: str, port: int, timeout: int, who: str) -> None:
    """Wait until something listens at `host:port`, at most `timeout` seconds."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(5.0, timeout)):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"{who}: nothing answered at the coordinator {host}:{port} within "
                    f"{timeout:g} s (is process 0 running there, and the port open?): {error}"
                ) from None
        time.sleep(0.25)

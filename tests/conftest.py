import logging
import os
import re

import hypothesis
import jax
import jax.random as jr
import pytest


jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# JAX's own style: no example database, derandomised, no deadline (first calls compile).
hypothesis.settings.register_profile(
    "deterministic",
    database=None,
    derandomize=True,
    deadline=None,
    max_examples=20,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture
def getkey():
    """A fresh key on every call, deterministic within a test."""
    counter = iter(range(1 << 30))

    def _getkey():
        return jr.key(next(counter))

    return _getkey


class CompileCounter(logging.Handler):
    """Counts XLA compilations while `jax.log_compiles()` is on."""

    pattern = re.compile(r"Compiling (\S+)")

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self.pattern.search(record.getMessage())
        if match:
            self.names.append(match.group(1))


@pytest.fixture
def count_compiles():
    """`with count_compiles() as names: ...`; `names` lists what was compiled."""
    import contextlib

    @contextlib.contextmanager
    def _count():
        handler = CompileCounter()
        logger = logging.getLogger("jax")
        old_level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            with jax.log_compiles():
                yield handler.names
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)

    return _count


@pytest.fixture
def without_runtime_typecheck():
    """Suspend the jaxtyping/beartype checks that the pytest flag installs.

    They run before a function body, so a test of the library's own error message for
    a value of the wrong type has to step past them (users see the library's message).
    """
    import contextlib

    import jaxtyping

    @contextlib.contextmanager
    def _off():
        old = jaxtyping.config.jaxtyping_disable
        jaxtyping.config.update("jaxtyping_disable", True)
        try:
            yield
        finally:
            jaxtyping.config.update("jaxtyping_disable", old)

    return _off

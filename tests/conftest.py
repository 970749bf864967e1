import atexit
import gc
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile


# XLA's CPU backend without its expensive LLVM passes and with its older (non-MLIR)
# fusion emitters: the tests run tiny programs, whose compilation is most of their time
# (the passes cost a third of it, the new emitters 2.5x; the same maths to rounding).
# Set before JAX starts its backend, once, in the first process: pytest-xdist's workers
# and the tests' subprocesses inherit them. EQX_MULTIMODAL_TEST_OPTIMISE=1 keeps XLA's
# defaults.
_FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
#: Only where this jaxlib's XLA knows the flag (an unknown flag aborts the process).
LEGACY_EMITTERS = "--xla_cpu_use_fusion_emitters=false"


def _xla_accepts(flags: str) -> bool:
    probe = "import jax.numpy as jnp; jnp.zeros(1).block_until_ready()"
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
    return done.returncode == 0


_FLAGS = os.environ.get("XLA_FLAGS", "")
if os.environ.get("EQX_MULTIMODAL_TEST_OPTIMISE") != "1" and _FAST_COMPILE not in _FLAGS:
    _FLAGS = f"{_FLAGS} {_FAST_COMPILE}".strip()
    if LEGACY_EMITTERS not in _FLAGS and _xla_accepts(LEGACY_EMITTERS):
        _FLAGS = f"{_FLAGS} {LEGACY_EMITTERS}"
    os.environ["XLA_FLAGS"] = _FLAGS

import hypothesis  # noqa: E402
import jax  # noqa: E402
import jax.random as jr  # noqa: E402
import pytest  # noqa: E402


jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# One compilation cache for the whole session, its pytest-xdist workers and subprocesses
# included: the same step built anew (every `fit` builds its own) is compiled once. The
# first process makes it and removes it at exit; the workers it starts inherit its name.
_CACHE = os.environ.get("EQX_MULTIMODAL_TEST_CACHE")
if _CACHE is None or os.environ.get("PYTEST_XDIST_WORKER") is None:
    _CACHE = tempfile.mkdtemp(prefix="eqx-multimodal-tests-jax-cache-")
    os.environ["EQX_MULTIMODAL_TEST_CACHE"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

# JAX's own style: no example database, derandomised, no deadline (first calls compile).
# `dev` (the default) draws few examples for the inner loop; `ci` draws more
# (HYPOTHESIS_PROFILE=ci, as the README's test command and CI run it).
_COMMON = dict(
    database=None,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        hypothesis.HealthCheck.too_slow,
        hypothesis.HealthCheck.data_too_large,
        # The fixtures given to properties are stateless (or read and reset, as capsys).
        hypothesis.HealthCheck.function_scoped_fixture,
    ],
)
hypothesis.settings.register_profile("dev", max_examples=8, **_COMMON)
hypothesis.settings.register_profile("ci", max_examples=30, **_COMMON)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _memory_maps() -> int:
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:  # not Linux
        return 0


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_code():
    """Drop the compiled code when a test module leaves too much of it.

    Every compiled program keeps a few memory maps: a whole suite in one process would
    run into the system's limit of maps (65,530 by default; XLA then aborts) and hold
    gigabytes. The persistent cache above makes a program that is needed again quick to
    get back.
    """
    yield
    if _memory_maps() > 20_000:
        jax.clear_caches()
        gc.collect()


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
    from eqx_multimodal.testing import without_type_checks

    return without_type_checks


#: The heavy tier: statistical, multi-process and end-to-end checks of 15-70 s each on
#: a 2-core CPU (measured in the whole suite, two workers), about 540 s of the suite's
#: 1,380 test-seconds. The README's test command leaves them out (`-m "not heavy"`, the
#: 8-minute budget); CI runs them (`.ci/run`: `python -m pytest -m heavy`, and the JAX
#: floor's nox session runs everything). Test ids, or their prefix for a whole test.
HEAVY = (
    "tests/test_scale.py::test_eight_devices_agree_with_one",
    "tests/test_scale.py::test_two_processes_agree_with_one",
    "tests/test_training.py::test_alignment_zero_is_at_chance",
    "tests/test_training.py::test_training_learns_image_audio_alignment",
    "tests/test_coherence.py::test_reference_coherence_of_copies_is_the_ceiling",
    "tests/test_coherence.py::test_reference_coherence_sees_a_blur",
    "tests/test_digits.py::test_a_brief_run_on_a_small_copy_learns_the_classes",
    "tests/test_ceilings.py::test_achievable_retrieval_small_gallery_and_cache",
    "tests/test_ceilings.py::test_tone_set_recovers_the_signed_latents",
    "tests/test_ceilings.py::test_observation_scores_are_the_ceiling_scores_on_the_same_items",
    "tests/test_ceilings.py::test_assignment_search_finds_the_exhaustive_optimum",
    "tests/test_ceilings.py::test_alignment_one_true_pairs_rank_first",
    "tests/test_models.py::test_overfits_a_tiny_batch[GratingSetEncoder]",
    "tests/test_models.py::test_overfits_a_tiny_batch[ImageEncoder]",
    "tests/test_models.py::test_overfits_a_tiny_batch[image->audio]",
    "tests/test_docs.py::test_page_runs_as_written[generation]",
    "tests/test_examples.py::test_example_runs[complete_training.py",
    "tests/test_own_data.py::test_learning_needs_true_pairs",
    "tests/test_reliability.py::test_resume_after_sigkill_reproduces_the_run",
    "tests/test_cli_train.py::test_train_generation_runs_two_phases_and_draws_what_it_makes",
    "tests/test_generation.py::test_frozen_steps_train_the_generators_alone",
    "tests/test_modalities.py::test_it_is_generated_and_generates",
    "tests/test_modalities.py::test_synthetic_data_of_yours_trains_evaluates_and_previews",
    # 11-16 s each: the README command measured 7:00 to 7:54 of pytest on one tree.
    "tests/test_set_decoder.py::test_the_set_towers_generate_images_with_it_and_refuse",
    "tests/test_coherence.py::test_reference_coherence_refuses_bad_input",
    "tests/test_models.py::test_overfits_a_tiny_batch[text->audio]",
    "tests/test_docs.py::test_page_runs_as_written[tutorials/scaling-out]",
    "tests/test_examples.py::test_example_runs[fourth_modality.py",
    "tests/test_own_data.py::test_fit_on_a_folder_resumes_mid_epoch_exactly",
    # 15 s each: the README command measured 7:00 and 8:31 on nearly one tree.
    "tests/test_set_decoder.py::test_the_generators_cycle_is_for_the_targets_that_decode",
    "tests/test_docs.py::test_page_runs_as_written[tutorials/fourth-modality]",
    "tests/test_synthetic.py::test_shapes_dtypes_ranges",
)


def pytest_collection_modifyitems(config, items):
    """Mark the `HEAVY` tests `heavy` (and `slow`)."""
    del config
    for item in items:
        if item.nodeid.startswith(HEAVY):
            item.add_marker(pytest.mark.heavy)
            item.add_marker(pytest.mark.slow)

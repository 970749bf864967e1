"""Test sessions across the supported JAX versions.

`nox` lists them; `nox -s "tests(jax='0.5.3')"` runs the JAX floor. The floor is read
from `pyproject.toml`, the one place it is declared.
"""

import pathlib
import re
import tomllib

import nox


nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lowest", "nnx", "lint", "typecheck"]

ROOT = pathlib.Path(__file__).parent
PYTHON = "3.11"

_dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
_jax = next(d for d in _dependencies if re.match(r"jax\b", d))
JAX_FLOOR = re.search(r">=\s*([\d.]+)", _jax).group(1)
# The floor plus the newest patch release of every minor series after it. jax 0.7.0 and
# 0.7.1 are excluded by pyproject.toml: pinning them makes resolvers fall back to equinox
# 0.13.0, which breaks on newer JAX.
JAX_VERSIONS = [JAX_FLOOR, "0.6.2", "0.7.2", "0.8.3", "0.9.2", "0.10.2"]
EQUINOX = next(d for d in _dependencies if d.startswith("equinox"))


def _pytest(session: nox.Session, *default: str) -> None:
    session.run("python", "-m", "pytest", *(session.posargs or default))


@nox.session(python=PYTHON)
@nox.parametrize("jax", JAX_VERSIONS)
def tests(session: nox.Session, jax: str) -> None:
    """The test suite on one JAX version (the package first, then the pin)."""
    session.install(".[test]")
    # Keep equinox's floor in the same resolve, so the pin cannot downgrade it.
    session.install(f"jax=={jax}", f"jaxlib=={jax}", EQUINOX)
    session.run("python", "-c", "import jax; print('jax', jax.__version__)")
    _pytest(session)


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """The lowest versions pyproject.toml allows of every direct dependency."""
    session.install("--resolution=lowest-direct", ".[test]")
    session.run(
        "python",
        "-c",
        "import jax, equinox, optax; print('jax', jax.__version__, "
        "'equinox', equinox.__version__, 'optax', optax.__version__)",
    )
    _pytest(session)


@nox.session(python=PYTHON)
def nnx(session: nox.Session) -> None:
    """The compatibility shim beside a real Flax NNX (an optional extra)."""
    session.install(".[test,nnx]")
    _pytest(session, "tests/test_nnx_data.py", "-k", "flax or guide")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    paths = ["src", "tests", "benchmarks", "examples", "research", "docs", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site, built strictly into site/: a broken link, a page missing
    from the nav or a public name without an API entry (docs/hooks.py) fails it."""
    session.install(".[docs]")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install(".[test]", "pyright")
    session.run("pyright", "src")

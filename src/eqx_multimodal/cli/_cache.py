"""The command line's caches: JAX's persistent compilation cache, on by default.

A first command spends most of its time compiling (a 5-step `train` of the default
model on CPU: see docs/first_use.md); with the cache, the next command that builds the
same programs reads them back. The cache lives in the user's cache folder
(`$XDG_CACHE_HOME/eqx-multimodal/jax`, else `~/.cache/eqx-multimodal/jax`);
`--no-compile-cache` or `EQX_MULTIMODAL_COMPILE_CACHE=0` turns it off,
`EQX_MULTIMODAL_COMPILE_CACHE=DIR` moves it, and a cache the user set up for JAX
(`JAX_COMPILATION_CACHE_DIR`) is left as it is.
"""

import argparse
import os
import pathlib
import sys


#: The environment variable that turns the cache off (`0`, `off`, `false`, `no`) or
#: names its folder.
COMPILE_CACHE_ENV = "EQX_MULTIMODAL_COMPILE_CACHE"
#: Programs that compile faster than this are not cached (JAX's default is 1 s; most of
#: a first run's time is in programs of 0.1 s to a few seconds).
MIN_COMPILE_SECONDS = 0.1
_OFF = ("0", "off", "false", "no")
_ON = ("", "1", "on", "true", "yes")


def user_cache_dir() -> pathlib.Path:
    """`$XDG_CACHE_HOME/eqx-multimodal`, else `~/.cache/eqx-multimodal`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "eqx-multimodal"


def add_compile_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not keep compiled programs in JAX's persistent cache (default: kept in "
        f"{user_cache_dir() / 'jax'}; also {COMPILE_CACHE_ENV}=0)",
    )


def compile_cache_dir(args: argparse.Namespace) -> pathlib.Path | None:
    """Where this command keeps compiled programs, or None (off, or the user's own JAX
    cache is set up)."""
    if getattr(args, "no_compile_cache", True):  # also: a command without the option
        return None
    setting = os.environ.get(COMPILE_CACHE_ENV, "").strip()
    if setting.lower() in _OFF or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    if setting.lower() in _ON:
        return user_cache_dir() / "jax"
    return pathlib.Path(setting).expanduser()


def enable_compile_cache(args: argparse.Namespace) -> pathlib.Path | None:
    """Turn JAX's persistent compilation cache on for this process, as `args` and the
    environment say; the folder used, or None. A folder that cannot be made leaves the
    cache off, with a line on stderr."""
    path = compile_cache_dir(args)
    if path is None:
        return None
    import jax

    # Set up already (by the user's code)? (`getattr`: the attribute is not typed.)
    if getattr(jax.config, "jax_compilation_cache_dir"):
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(
            f"the compilation cache is off: {str(path)!r} cannot be made ({error.strerror})",
            file=sys.stderr,
        )
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return path

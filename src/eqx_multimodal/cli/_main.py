import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from .._validation import argument_names, refused_input
from . import _digits, _embed, _evaluate, _export, _generate, _preview, _train, _translate
from ._args import FLAGS
from ._cache import add_compile_cache_option, enable_compile_cache
from ._errors import CommandError
from ._imports import add_import_option, import_user_module, imports_of


def _version() -> str:
    from .. import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line that says where to look, then exit status 2."""

    def error(self, message: str) -> "NoReturn":
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eqx-multimodal",
        description="Aligned multi-modal data and models in JAX + Equinox.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help=f"print the traceback of an unexpected error (or set {TRACEBACK_ENV}=1)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in (_train, _evaluate, _embed, _generate, _translate, _export, _preview, _digits):
        module.add_parser(commands)
    for command in commands.choices.values():  # after the command too
        command.add_argument(
            "--traceback", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    for name, command in commands.choices.items():
        if name != "digits":  # the only command that compiles nothing
            add_compile_cache_option(command)
            add_import_option(command)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run `eqx-multimodal ARGV`; return the exit status (0 done, 1 an OS error, 2 bad
    input, 130 interrupted). Every error is one line on stderr."""
    # `--import MODULE` first: a module may register modalities that the options name.
    argv = sys.argv[1:] if argv is None else list(argv)
    for name in imports_of(argv):
        try:
            import_user_module(name)
        except CommandError as error:
            command = next((a for a in argv if not a.startswith("-")), None)
            who = "eqx-multimodal" if command is None else f"eqx-multimodal {command}"
            print(f"{who}: error: {error}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    # A termination request (e.g. `kill`) ends a run like Ctrl-C: it checkpoints first.
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        enable_compile_cache(args)
        with argument_names(FLAGS):
            return run(args)
    except (CommandError, ValueError, TypeError, LookupError) as error:
        if not isinstance(error, CommandError) and not refused_input(error):
            return _bug(args, error)
        print(f"eqx-multimodal {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, ImportError) as error:
        print(f"eqx-multimodal {args.command}: error: {_os_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"eqx-multimodal {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - anything else is a bug of the package
        return _bug(args, error)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


#: Set (to anything but "" or "0") to print the traceback of an unexpected error.
TRACEBACK_ENV = "EQX_MULTIMODAL_TRACEBACK"


def _bug(args: argparse.Namespace, error: BaseException) -> int:
    """An error the package did not mean to raise: say it is a bug, with the traceback
    when `--traceback` or `TRACEBACK_ENV` asks for it; exit status 1."""
    import os
    import traceback

    show = getattr(args, "traceback", False) or os.environ.get(TRACEBACK_ENV, "") not in ("", "0")
    if show:
        traceback.print_exception(error, file=sys.stderr)
    detail = str(error).splitlines()[0][:300] if str(error) else ""
    hint = "" if show else f" (run with --traceback, or {TRACEBACK_ENV}=1, for the traceback)"
    print(
        f"eqx-multimodal {args.command}: internal error, a bug in eqx-multimodal: "
        f"{type(error).__name__}: {detail}{hint}; please report it",
        file=sys.stderr,
    )
    return 1


def _os_error(error: BaseException) -> str:
    """An OS error in a line; a full disk says which folder."""
    import errno

    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        if error.filename is not None:
            import os

            return f"no space left on {os.path.dirname(os.path.abspath(error.filename))}"
        return str(error.strerror)  # the package's own say which folder
    return str(error)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

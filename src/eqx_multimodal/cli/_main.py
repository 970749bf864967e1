import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from .._validation import argument_names
from . import _digits, _embed, _evaluate, _export, _generate, _preview, _train, _translate
from ._args import FLAGS
from ._errors import CommandError


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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in (_train, _evaluate, _embed, _generate, _translate, _export, _preview, _digits):
        module.add_parser(commands)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run `eqx-multimodal ARGV`; return the exit status (0 done, 1 an OS error, 2 bad
    input, 130 interrupted). Every error is one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    # A termination request (e.g. `kill`) ends a run like Ctrl-C: it checkpoints first.
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        with argument_names(FLAGS):
            return run(args)
    except (CommandError, ValueError, TypeError) as error:
        print(f"eqx-multimodal {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, ImportError) as error:
        print(f"eqx-multimodal {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"eqx-multimodal {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

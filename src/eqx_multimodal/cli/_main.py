import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn


class CommandError(Exception):
    """A problem the user can fix: printed as one line, exit status 2."""


def _version() -> str:
    from .. import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line that says where to look, then exit status 2."""

    def error(self, message: str) -> "NoReturn":
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import _evaluate, _export, _generate, _preview, _train

    parser = _Parser(
        prog="eqx-multimodal",
        description="Aligned multi-modal data and models in JAX + Equinox.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in (_train, _evaluate, _generate, _export, _preview):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (CommandError, ValueError, TypeError) as error:
        print(f"eqx-multimodal {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"eqx-multimodal {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"eqx-multimodal {args.command}: interrupted", file=sys.stderr)
        return 130

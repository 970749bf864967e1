"""`--import MODULE`: the user's modules (which register modalities, for example) are
imported before the command line is read, so that their names are known to it."""

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from ._errors import CommandError


FLAG = "--import"


def add_import_option(parser: argparse.ArgumentParser) -> None:
    """The repeatable `--import MODULE` of a subcommand (read early, by `main`)."""
    parser.add_argument(
        FLAG,
        dest="imports",
        metavar="MODULE",
        action="append",
        default=[],
        help="import this module first (a name importable from the current folder, or a "
        "path to a .py file), e.g. one that registers a modality with "
        "eqx_multimodal.register_modality or a tower family with "
        "eqx_multimodal.nn.register_towers; repeatable",
    )


def imports_of(argv: Sequence[str]) -> list[str]:
    """The values of every `--import` in `argv` (`--import M` or `--import=M`)."""
    found = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == FLAG and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith(FLAG + "="):
            found.append(arg[len(FLAG) + 1 :])
    return found


def import_user_module(name: str) -> None:
    """Import `name`: a module name (the current folder is searched first) or the path
    of a `.py` file; a failure is a one-line `CommandError` naming it."""
    where = f"{FLAG} {name!r}"
    if not name:
        raise CommandError(f"{FLAG} needs a module name, got ''")
    try:
        if name.endswith(".py") or os.sep in name:
            if not os.path.isfile(name):
                raise CommandError(f"{where}: no such file")
            module_name = os.path.splitext(os.path.basename(name))[0]
            spec = importlib.util.spec_from_file_location(module_name, name)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            return
        here = os.getcwd()
        if here not in sys.path and "" not in sys.path:
            sys.path.insert(0, here)
        importlib.import_module(name)
    except CommandError:
        raise
    except ModuleNotFoundError as error:
        if error.name is not None and name.startswith(error.name):
            raise CommandError(f"{where}: no module named {error.name!r}") from None
        raise CommandError(f"{where}: importing it failed: ModuleNotFoundError: {error}") from None
    except BaseException as error:  # noqa: BLE001 - the user's module, reported in a line
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        detail = str(error).splitlines()[0] if str(error) else ""
        raise CommandError(
            f"{where}: importing it failed: {type(error).__name__}: {detail}"
        ) from None

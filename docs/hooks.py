"""Build-time hooks of the documentation site (mkdocs.yml: `hooks: [docs/hooks.py]`).

- `<!-- cli-reference -->` in a page becomes every `eqx-multimodal` subcommand's `--help`,
  rendered from the argparse parsers, so the reference never drifts from the code and a
  new subcommand appears by itself.
- `<!-- top-level-names -->` becomes the table of the names `eqx_multimodal` re-exports,
  each linked to its entry in its subpackage's page.
- After the build, every public name of every public subpackage must have an entry (an
  anchor `module.name`) on an API page; a missing one is a warning, which `strict: true`
  turns into a failed build. `tests/test_docs.py` runs the same check.

Nothing here imports mkdocs at module level: the tests import this file without it.
"""

import contextlib
import importlib
import inspect
import logging
import os
import re
import types
from collections.abc import Iterable, Iterator


PACKAGE = "eqx_multimodal"
#: The public subpackages whose exported names must each have an API entry.
MODULES = (
    PACKAGE,
    f"{PACKAGE}.modalities",
    f"{PACKAGE}.data",
    f"{PACKAGE}.distributed",
    f"{PACKAGE}.nn",
    f"{PACKAGE}.losses",
    f"{PACKAGE}.metrics",
    f"{PACKAGE}.training",
    f"{PACKAGE}.guide",
    f"{PACKAGE}.viz",
    f"{PACKAGE}.testing",
    f"{PACKAGE}.nnx",
)
CLI_MARK = "<!-- cli-reference -->"
TOP_LEVEL_MARK = "<!-- top-level-names -->"
HELP_WIDTH = "88"

log = logging.getLogger("mkdocs.plugins.eqx_multimodal")


# --- the public names ------------------------------------------------------------------


def public_names(module_name: str) -> list[str]:
    """The names a module exports: its `__all__`, or else every name in its namespace that
    does not start with an underscore and is not a module (subpackages are pages of their
    own)."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return [n for n in names if not isinstance(getattr(module, n), types.ModuleType)]


def home(name: str) -> str | None:
    """The subpackage a name of the top level is documented in (the first public
    subpackage that exports the same object under the same name), or None."""
    obj = getattr(importlib.import_module(PACKAGE), name)
    for module_name in MODULES[1:]:
        module = importlib.import_module(module_name)
        if name in public_names(module_name) and getattr(module, name) is obj:
            return module_name
    return None


def required_anchors() -> dict[str, str]:
    """`{anchor: public name}`: the API entry each public name needs. A name of the top
    level needs its subpackage's entry (the top-level page links to it)."""
    anchors = {}
    for module_name in MODULES:
        for name in public_names(module_name):
            qualified = f"{module_name}.{name}"
            where = home(name) if module_name == PACKAGE else module_name
            anchors[f"{where or module_name}.{name}"] = qualified
    return anchors


def missing_entries(anchors: Iterable[str]) -> list[str]:
    """The public names (qualified) that have no entry among `anchors`."""
    present = set(anchors)
    return sorted(name for anchor, name in required_anchors().items() if anchor not in present)


def undocumented(module_names: Iterable[str] = MODULES) -> list[str]:
    """The public classes and functions without a docstring (constants are exempt)."""
    missing = []
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isroutine(obj)) and not inspect.getdoc(obj):
                missing.append(f"{module_name}.{name}")
    return missing


# --- generated Markdown ----------------------------------------------------------------


@contextlib.contextmanager
def _columns(width: str) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def subcommands() -> dict[str, object]:
    """`{name: parser}` of every `eqx-multimodal` subcommand, in the order of `--help`."""
    import argparse

    from eqx_multimodal.cli._main import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {"": parser, **action.choices}
    return {"": parser}


def cli_reference() -> str:
    """Markdown: the `--help` of `eqx-multimodal` and of each subcommand."""
    parts = []
    with _columns(HELP_WIDTH):
        for name, parser in subcommands().items():
            title = f"eqx-multimodal {name}".strip()
            help_text = parser.format_help().rstrip()  # type: ignore[attr-defined]
            parts.append(f"## `{title}`\n\n```text\n$ {title} --help\n{help_text}\n```\n")
    return "\n".join(parts)


def top_level_table() -> str:
    """Markdown: the names `eqx_multimodal` re-exports, linked to their entries."""
    rows = ["| name | documented in |", "|---|---|"]
    for name in public_names(PACKAGE):
        where = home(name)
        if where is None:  # defined at the top level: its own entry is required instead
            rows.append(f"| `{name}` | here |")
        else:
            rows.append(f"| [`{PACKAGE}.{name}`][{where}.{name}] | `{where}` |")
    return "\n".join(rows) + "\n"


# --- mkdocs events ---------------------------------------------------------------------

_anchors: set[str] = set()
_ID = re.compile(r'\bid="(eqx_multimodal(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"')


def on_pre_build(config: object) -> None:
    _anchors.clear()


def on_page_markdown(markdown: str, page: object, config: object, files: object) -> str:
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    if TOP_LEVEL_MARK in markdown:
        markdown = markdown.replace(TOP_LEVEL_MARK, top_level_table())
    return markdown


def on_post_page(output: str, page: object, config: object) -> str:
    _anchors.update(_ID.findall(output))
    return output


def on_post_build(config: object) -> None:
    for name in missing_entries(_anchors):
        log.warning(f"public name {name} has no entry in the API reference (docs/api/)")
    for name in undocumented():
        log.warning(f"public name {name} has no docstring")

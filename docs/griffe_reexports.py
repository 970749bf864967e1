"""A griffe extension: the package's re-exports are its public API; a class's
undocumented fields are not.

Every public name is re-exported from the module that defines it, one a line, as
`from ._x import y as y` (the typing convention for an explicit re-export). Without
`__all__`, griffe counts such imports as private; this marks them public, so that
`::: eqx_multimodal.metrics` renders every exported name, new ones included.

A name re-exported from another documented module (the top level's `from .data import
SyntheticConfig as SyntheticConfig`) stays unrendered: it is documented once, where it
is defined, and the top-level page links to it (docs/hooks.py).
"""

import importlib.util
import pathlib

import griffe


def _documented_modules() -> frozenset[str]:
    spec = importlib.util.spec_from_file_location(
        "eqx_multimodal_docs_hooks", pathlib.Path(__file__).with_name("hooks.py")
    )
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return frozenset(hooks.MODULES)


DOCUMENTED = _documented_modules()
PACKAGE = "eqx_multimodal"


class RedundantAliases(griffe.Extension):
    """Mark `from .module import name as name` in a public module as public, unless
    `module` is a documented module of its own."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: object) -> None:
        # An Equinox module's fields are its parameters and static settings, documented
        # by `__init__`'s arguments (as on Equinox's own pages): listed only when they
        # have a docstring of their own.
        # Dataclasses keep theirs: their fields are their constructor's arguments.
        for cls in _classes(pkg):
            if "dataclass" in cls.labels:
                continue
            for name, member in list(cls.members.items()):
                if not member.is_alias and member.is_attribute and not member.docstring:
                    del cls.members[name]

    def on_alias(self, *, alias: griffe.Alias, **kwargs: object) -> None:
        parent = alias.parent
        if parent is None or not parent.is_module or alias.name.startswith("_"):
            return
        if any(part.startswith("_") for part in parent.path.split(".")):
            return  # a private module's imports are not the API
        module, _, name = alias.target_path.rpartition(".")
        inside = module == parent.path or module.startswith(parent.path + ".")
        if inside and name == alias.name and module not in DOCUMENTED:
            alias.public = True


def _classes(obj: griffe.Object) -> list[griffe.Class]:
    """Every class defined in a module, its submodules and classes (not aliases)."""
    found = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_class:
            found.append(member)
        if member.is_module or member.is_class:
            found.extend(_classes(member))
    return found

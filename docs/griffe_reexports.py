"""A griffe extension: the package's re-exports are its public API.

Every public name is re-exported from a private module, one a line, as
`from ._x import y as y` (the typing convention for an explicit re-export). Without
`__all__`, griffe counts such imports as private; this marks them public, so that
`::: eqx_multimodal.metrics` renders every exported name, new ones included.
"""

import griffe


PACKAGE = "eqx_multimodal"


class RedundantAliases(griffe.Extension):
    """Mark `from ._private import name as name` in a public module as public."""

    def on_alias(self, *, alias: griffe.Alias, **kwargs: object) -> None:
        parent = alias.parent
        if parent is None or not parent.is_module or alias.name.startswith("_"):
            return
        target = alias.target_path.split(".")
        if target[0] != PACKAGE or target[-1] != alias.name:
            return
        # From a private module of the package (not a re-export of a public subpackage's
        # name, as the top level does: those are documented where they are defined).
        if any(part.startswith("_") for part in target[1:-1]):
            alias.public = True

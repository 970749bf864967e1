"""The registry of modalities: one door, `register_modality`, for the built-ins, for a
module of yours and for installed plug-ins (the entry-point group
`eqx_multimodal.modalities`)."""

import importlib
import importlib.metadata
import threading
from typing import Any

from ._modality import Modality


#: The entry-point group an installed package registers its modalities under; each
#: entry point names a module that calls `register_modality` when imported, or a
#: `Modality` (or a list of them) to register.
ENTRY_POINT_GROUP = "eqx_multimodal.modalities"
#: The module of the built-in modalities: loaded on the first lookup, like a plug-in,
#: so that this registry (below the data and the models) imports neither.
BUILTINS = "eqx_multimodal.modalities._builtins"


class UnknownModalityError(ValueError):
    """A modality name that no registration made known (`get_modality`)."""


_registry: dict[str, Modality] = {}
_lock = threading.RLock()
_state = {"loaded": False}


def _load() -> None:
    """Register the built-ins, then the installed plug-ins, once."""
    with _lock:
        if _state["loaded"]:
            return
        _state["loaded"] = True  # before importing: their registrations come back here
        importlib.import_module(BUILTINS)
        _load_plugins()


def _load_plugins() -> None:
    """Load every entry point of `ENTRY_POINT_GROUP`: a module that registers on import,
    or a `Modality` (or a list of them) registered here. A plug-in that fails to load is
    a one-line ImportError that names it."""
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = entry.load()
        except Exception as error:  # noqa: BLE001 - a plug-in's own failure, named
            detail = str(error).splitlines()[0] if str(error) else ""
            raise ImportError(
                f"the modality plug-in {entry.name!r} ({entry.value}, entry point of "
                f"{ENTRY_POINT_GROUP!r}) failed to load: {type(error).__name__}: {detail}"
            ) from None
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, Modality) and _registry.get(item.name) is not item:
                register_modality(item)


def register_modality(modality: Modality, *, replace: bool = False) -> Modality:
    """Make `modality` known by its name to folders, datasets, models, evaluation and
    figures; the built-ins (image, text, audio) are registered through this same call.

    **Arguments:**

    - `modality`: a `Modality`.
    - `replace`: keyword only. Replace a modality registered under the same name
        (default: a second registration of a name is an error).

    **Returns:**

    `modality`.

    ```python
    >>> import numpy as np
    >>> tabular = register_modality(Modality("doc_features", shape=(3,)), replace=True)
    >>> get_modality("doc_features") is tabular
    True
    >>> register_modality(Modality("image", shape=(None, None, None)))
    Traceback (most recent call last):
    ValueError: modality 'image' is already registered; pass replace=True to replace it

    ```
    """
    if not isinstance(modality, Modality):
        raise TypeError(f"`modality` must be a Modality, got {type(modality).__name__}")
    _load()
    with _lock:
        if modality.name in _registry and not replace:
            raise ValueError(
                f"modality {modality.name!r} is already registered; pass replace=True to replace it"
            )
        _check_spec_fields(modality)
        _registry[modality.name] = modality
    return modality


def _check_spec_fields(modality: Modality) -> None:
    """A `DataSpec` field is one modality's: a second claim of it is refused."""
    if modality.spec_fields is None:
        return
    for other in _registry.values():
        if other.name == modality.name or other.spec_fields is None:
            continue
        shared = sorted(set(modality.spec_fields.names) & set(other.spec_fields.names))
        if shared:
            raise ValueError(
                f"modality {modality.name!r}: its `spec_fields` claim {shared}, which are "
                f"modality {other.name!r}'s"
            )


def get_modality(name: Any) -> Modality:
    """The registered modality called `name`, or a one-line error listing the
    registered ones.

    ```python
    >>> get_modality("image").suffix
    '.png'
    >>> try:
    ...     get_modality("no_such_modality")
    ... except ValueError as error:
    ...     print(error)
    unknown modality 'no_such_modality'; the registered modalities are ['image', 'text', 'audio'...

    ```
    """
    _load()
    found = _registry.get(name) if isinstance(name, str) else None
    if found is None:
        raise UnknownModalityError(
            f"unknown modality {name!r}; the registered modalities are "
            f"{list(_registry)} (register yours with eqx_multimodal.register_modality, or "
            "--import the module that does)"
        )
    return found


def registered_modalities() -> tuple[str, ...]:
    """The names of the registered modalities, in the order they were registered (the
    built-ins first): the order of a dataset's modalities and of its pairs.

    ```python
    >>> registered_modalities()[:3]
    ('image', 'text', 'audio')

    ```
    """
    _load()
    return tuple(_registry)


def _forget(name: str) -> None:
    """Remove a registration (tests that register a throwaway modality clean up)."""
    with _lock:
        _registry.pop(name, None)

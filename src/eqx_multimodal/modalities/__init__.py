"""Modalities as values: `Modality` says what one item is, how a folder stores it, its
default towers and how a figure draws it; `register_modality` makes one known by name.
Image, text and audio are registered through the same door, on the first lookup."""

from ._modality import (
    AbstractFolderFormat as AbstractFolderFormat,
    Modality as Modality,
    SpecFields as SpecFields,
)
from ._registry import (
    ENTRY_POINT_GROUP as ENTRY_POINT_GROUP,
    get_modality as get_modality,
    register_modality as register_modality,
    registered_modalities as registered_modalities,
    UnknownModalityError as UnknownModalityError,
)

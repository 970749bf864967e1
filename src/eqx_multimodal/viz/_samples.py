"""Samples of your data at a glance: a row a sample, a column a modality, each item drawn
as its registered modality says (`Modality.draw`)."""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_int
from ..modalities import get_modality
from ._figure import new_figure, save


def draw_item(ax: Any, modality: str, item: Any) -> None:
    """Draw one item of `modality` on `ax`: with its `Modality.draw`, or else a 1-D item
    as a curve, a 2-D one as an image, and a 3-D one as an image of its channels
    (their mean, unless 3 or 4)."""
    kind = get_modality(modality)
    array = np.asarray(item)
    ax.set_xticks([])
    ax.set_yticks([])
    if kind.draw is not None:
        kind.draw(ax, array)
    elif array.ndim == 1:
        ax.plot(array, linewidth=0.8)
    elif array.ndim in (2, 3):
        image = array.astype(np.float64)
        if image.ndim == 3 and image.shape[-1] not in (3, 4):
            image = image.mean(axis=-1)
        low, high = float(np.min(image)), float(np.max(image))
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
        ax.imshow(image, cmap="gray", interpolation="nearest")
    else:
        ax.text(0.5, 0.5, f"shape {array.shape}", ha="center", va="center")


def samples_figure(
    items: Mapping[str, Any],
    *,
    modalities: Sequence[str] | None = None,
    rows: int = 4,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Any:
    """Draw the first `rows` samples of `items`: a row a sample, a column a modality.

    **Arguments:**

    - `items`: `{modality: array}` with one leading axis of samples (a batch, or a
        dataset's arrays).
    - `modalities`: keyword only. Which to draw (default: every registered modality in
        `items`, in registration order).
    - `rows`: keyword only. How many samples.
    - `path`: keyword only. Save the figure there as a PNG.
    - `dpi`: keyword only. Pixels an inch.

    **Returns:**

    The matplotlib `Figure`.

    ```python
    >>> import numpy as np
    >>> items = {"image": np.zeros((2, 8, 8, 1)), "audio": np.zeros((2, 100))}
    >>> figure = samples_figure(items, rows=2)
    >>> len(figure.axes)
    4

    ```
    """
    rows = check_int(rows, "rows")
    if not isinstance(items, Mapping):
        raise TypeError(f"`items` must be a dict of arrays by modality, got {items!r:.60}")
    names = (
        [m for m in items if m not in ("latent", "label")]
        if modalities is None
        else list(modalities)
    )
    arrays = {}
    for name in names:
        get_modality(name)
        if name not in items:
            raise ValueError(f"`modalities` names {name!r}, which `items` does not have")
        arrays[name] = np.asarray(items[name])
        if arrays[name].ndim < 1:
            raise ValueError(f"`items[{name!r}]` needs a leading axis of samples")
    if not arrays:
        raise ValueError("`items` holds no modality to draw")
    rows = min(rows, *(len(a) for a in arrays.values()))
    figure = new_figure(2.0 * len(arrays), 1.6 * rows, dpi=dpi)
    axes = figure.subplots(rows, len(arrays), squeeze=False)
    for column, (name, array) in enumerate(arrays.items()):
        axes[0][column].set_title(name)
        for row in range(rows):
            draw_item(axes[row][column], name, array[row])
    return save(figure, path)

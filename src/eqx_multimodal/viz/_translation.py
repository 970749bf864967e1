"""Cross-modal generation at a glance: per source, what went in, K generated samples and
the real target, side by side."""

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_choice, check_int
from ..modalities import get_modality, registered_modalities
from ._figure import new_figure, save
from ._preview import show_spectrogram
from ._samples import draw_item


def _rank(modality: str) -> int:
    """The number of axes of one item of `modality`."""
    return get_modality(modality).rank


def _check(items: Any, modality: str, name: str, rows: int | None) -> np.ndarray:
    array = np.asarray(items)
    if array.ndim != _rank(modality) + 1:
        raise ValueError(f"`{name}` must be {modality} items (n, ...), got shape {array.shape}")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"`{name}` must hold {rows} items, one per row, got {array.shape[0]}")
    if not get_modality(modality).holds_ids and not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` holds NaN/inf values")
    return array


def _tokens_text(tokens: np.ndarray, decode: Callable[[np.ndarray], str] | None) -> str:
    text = decode(tokens) if decode is not None else " ".join(str(int(t)) for t in tokens)
    return "\n".join(textwrap.wrap(text, 28, max_lines=6, placeholder=" ..."))


def _draw(
    ax: Any,
    item: np.ndarray,
    modality: str,
    sample_rate: int | None,
    decode: Callable[[np.ndarray], str] | None,
) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if modality == "image":
        image = np.clip(item.astype(np.float64), 0.0, 1.0)
        if image.shape[-1] not in (3, 4):
            image = image.mean(axis=-1)
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    elif modality == "audio":
        rate = 1.0 if sample_rate is None else float(sample_rate)
        show_spectrogram(ax, item.astype(np.float32), rate)
    elif modality != "text":  # a modality of yours: as `samples_figure` draws it
        draw_item(ax, modality, item)
    else:
        ax.text(
            0.5, 0.5, _tokens_text(item, decode), ha="center", va="center", fontsize=7, wrap=True
        )
        for spine in ax.spines.values():
            spine.set_visible(False)


def translation_figure(
    sources: Mapping[str, Any],
    generated: Any,
    real_target: Any = None,
    *,
    target: str,
    sample_rate: int | None = None,
    decode: Callable[[np.ndarray], str] | None = None,
    max_rows: int = 8,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Any:
    """Source(s), K generated samples and the real target, one row per source item.

    Images are drawn as images (clipped to [0, 1]), audio as its log spectrogram (dB,
    80 dB of range), text as its caption (`decode(tokens)`, or the token ids).

    **Arguments:**

    - `sources`: `{modality: (n, ...)}` the source items, one column per modality (a
        generation from two sources has two).
    - `generated`: `(n, ...)` or `(n, K, ...)` generated items of `target`, made from
        row `i`'s sources.
    - `real_target`: optional `(n, ...)` the real target items, drawn last.
    - `target`: keyword only. `"image"`, `"text"`, `"audio"`, or a registered modality
        of yours (drawn as `samples_figure` draws it).
    - `sample_rate`: keyword only. Of the audio (labels the spectrograms' axes in s and
        Hz; without it, in samples and cycles per sample).
    - `decode`: keyword only. Turns one row of token ids into a caption.
    - `max_rows`: keyword only. At most this many rows are drawn.
    - `path`: keyword only. Where to write the figure as a PNG, if anywhere.
    - `dpi`: keyword only. Pixels an inch.

    **Returns:**

    The matplotlib `Figure`, with `rows * (sources + K + 1)` axes (`+ 0` without
    `real_target`).

    ```python
    >>> import numpy as np
    >>> figure = translation_figure(
    ...     {"text": np.zeros((2, 5), np.int32)}, np.zeros((2, 3, 8, 8, 3)),
    ...     np.zeros((2, 8, 8, 3)), target="image")
    >>> len(figure.axes)  # 2 rows of 1 source, 3 samples and the real image
    10

    ```
    """
    max_rows = check_int(max_rows, "max_rows")
    dpi = check_int(dpi, "dpi")
    if sample_rate is not None:
        check_int(sample_rate, "sample_rate")
    srcs, array, real = _direction(sources, generated, real_target, target)
    k = array.shape[1]
    rows = min(len(array), max_rows)
    columns = len(srcs) + k + (real is not None)
    figure = new_figure(0.4 + 1.7 * columns, 0.5 + 1.6 * rows, dpi=dpi)
    axes = figure.subplots(rows, columns, squeeze=False)
    arrow = f"{'+'.join(srcs)} -> {target}"
    figure.suptitle(f"{arrow}: source, {k} generated, real", fontsize=11)
    for r in range(rows):
        for c, (modality, item, title) in enumerate(_cells(srcs, array, real, target, r)):
            ax = axes[r, c]
            _draw(ax, item, modality, sample_rate, decode)
            if r == 0:
                ax.set_title(title, fontsize=9)
    return save(figure, path)


def _direction(
    sources: Any, generated: Any, real_target: Any, target: str
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """One direction's items, checked: the sources, the generated `(n, K, ...)` and the
    real targets (or None)."""
    check_choice(target, "target", registered_modalities())
    if not isinstance(sources, Mapping) or not sources:
        raise TypeError(
            f"`sources` must be a non-empty mapping from modality to items, got {sources!r:.60}"
        )
    for name in sources:
        check_choice(name, "sources", registered_modalities())
    array = np.asarray(generated)
    if array.ndim == _rank(target) + 1:
        array = array[:, None]
    if array.ndim != _rank(target) + 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"`generated` must be {target} items (n, ...) or (n, K, ...), got shape "
            f"{np.asarray(generated).shape}"
        )
    n = array.shape[0]
    if not get_modality(target).holds_ids and not np.all(np.isfinite(array)):
        raise ValueError("`generated` holds NaN/inf values")
    srcs = {m: _check(x, m, f"sources[{m!r}]", n) for m, x in sources.items()}
    real = None if real_target is None else _check(real_target, target, "real_target", n)
    if real is not None and real.shape[1:] != array.shape[2:]:
        raise ValueError(
            f"`generated` items must have the real targets' shape {real.shape[1:]}, got "
            f"{array.shape[2:]}"
        )
    return srcs, array, real


def _cells(
    srcs: Mapping[str, np.ndarray], array: np.ndarray, real: Any, target: str, row: int
) -> list[tuple[str, np.ndarray, str]]:
    """`(modality, item, title)` of one row: the sources, the samples, the real target."""
    cells = [(m, x[row], f"source {m}") for m, x in srcs.items()]
    cells += [(target, array[row, s], f"generated {s + 1}") for s in range(array.shape[1])]
    if real is not None:
        cells.append((target, real[row], f"real {target}"))
    return cells


def generation_figure(
    directions: Sequence[tuple[Mapping[str, Any], Any, Any, str]],
    *,
    sample_rate: int | None = None,
    decode: Callable[[np.ndarray], str] | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Any:
    """Several directions in one figure (a generation run's `generated.png`): for each
    `(sources, generated, real_target, target)` as `translation_figure` takes them, one
    row per source item: its source(s), the K generated samples and the real target.

    ```python
    >>> import numpy as np
    >>> figure = generation_figure([
    ...     ({"text": np.zeros((2, 5), np.int32)}, np.zeros((2, 2, 8, 8, 1)),
    ...      np.zeros((2, 8, 8, 1)), "image"),
    ...     ({"image": np.zeros((1, 8, 8, 1))}, np.zeros((1, 2, 5), np.int32), None, "text"),
    ... ])
    >>> len([ax for ax in figure.axes if ax.get_visible()])  # 2 rows of 4, 1 row of 3
    11

    ```
    """
    dpi = check_int(dpi, "dpi")
    if not directions:
        raise ValueError("`directions` must hold at least one direction, got none")
    if sample_rate is not None:
        check_int(sample_rate, "sample_rate")
    checked = []
    for sources, generated, real_target, target in directions:
        checked.append((*_direction(sources, generated, real_target, target), target))
    rows = sum(len(a) for _, a, _, _ in checked)
    columns = max(len(s) + a.shape[1] + (r is not None) for s, a, r, _ in checked)
    figure = new_figure(0.8 + 1.7 * columns, 0.5 + 1.6 * rows, dpi=dpi)
    axes = figure.subplots(rows, columns, squeeze=False)
    row = 0
    for srcs, array, real, target in checked:
        for i in range(len(array)):
            cells = _cells(srcs, array, real, target, i)
            for c in range(columns):
                ax = axes[row, c]
                if c >= len(cells):
                    ax.set_visible(False)
                    continue
                modality, item, title = cells[c]
                _draw(ax, item, modality, sample_rate, decode)
                ax.set_title(title, fontsize=8)
            axes[row, 0].set_ylabel(f"{'+'.join(srcs)}\n-> {target}", fontsize=8)
            row += 1
    figure.suptitle("generated from held-out sources", fontsize=11)
    return save(figure, path)

"""The training report: loss curves and a retrieval table, in one figure."""

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_int
from ._figure import new_figure, save


def _number(value: Any) -> float | None:
    """A real scalar (Python, NumPy or JAX) as a float; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if getattr(value, "shape", None) == () and np.issubdtype(np.asarray(value).dtype, np.number):
        return float(value)
    return None


def _panel(name: str) -> str:
    if "recall" in name:
        return "validation recall"
    if "/" in name:
        return "loss terms"
    return "loss" if "loss" in name else "other"


def _curves(history: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    if isinstance(history, Mapping | str) or not isinstance(history, Sequence) or not history:
        raise ValueError(
            '`history` must be a non-empty list of dicts with "step" and "loss", got '
            f"{history!r:.80}"
        )
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for i, record in enumerate(history):
        if not isinstance(record, Mapping):
            raise TypeError(f"`history[{i}]` must be a dict, got {record!r:.80}")
        step = _number(record.get("step"))
        if step is None or _number(record.get("loss")) is None:
            raise ValueError(
                f'`history[{i}]` must have a numeric "step" and "loss", got {dict(record)!r:.120}'
            )
        for name, value in record.items():
            value = _number(value)
            if name == "step" or value is None:
                continue
            steps, values = curves.setdefault(str(name), ([], []))
            steps.append(step)
            values.append(value)
    return curves


def _cell(value: Any, where: str) -> str:
    number = _number(value)
    if number is None:
        raise ValueError(f"`retrieval{where}` must be a number, got {value!r:.80}")
    return f"{number:.3g}"


def training_report(
    history: Sequence[Mapping[str, Any]],
    retrieval: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    dpi: int = 100,
) -> Any:
    """Loss curves and a retrieval table, written as one PNG (11 x 7.5 in).

    Every numeric key of the history other than `"step"` is a curve, drawn against
    the step where it is present: `"loss"` and `"val_loss"` (and other keys with
    "loss" in the name) in one panel, per-term keys with a `/` (`"loss/contrastive"`)
    in a second, keys with "recall" in a third, anything else (a learning rate) in a
    fourth. Keys that start with
    "val" are dashed. A panel whose values are all positive has a log-scale y axis.

    **Arguments:**

    - `history`: a list of dicts, each with a numeric `"step"` and `"loss"` and any
        other numbers, e.g. `{"step": 100, "loss": 0.7, "val_loss": 0.8}`.
    - `retrieval`: `{direction: {metric: value}}`, e.g. `{"image->audio":
        {"recall@1": 0.2, "median_rank": 5.0}}`; may be empty.
    - `path`: where to write the PNG.
    - `dpi`: keyword only. Pixels an inch.

    **Returns:**

    The matplotlib `Figure`.

    ```python
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "training.png"
    >>> history = [{"step": s, "loss": 1 / (s + 1)} for s in range(10)]
    >>> _ = training_report(history, {"image->text": {"recall@1": 0.5}}, path)
    >>> path.exists()
    True

    ```
    """
    curves = _curves(history)
    if not isinstance(retrieval, Mapping):
        raise TypeError(f"`retrieval` must be a dict of dicts, got {retrieval!r:.80}")
    metrics = list(dict.fromkeys(m for row in retrieval.values() for m in row))
    cells = [
        [_cell(row[m], f"[{d!r}][{m!r}]") if m in row else "-" for m in metrics]
        for d, row in retrieval.items()
    ]

    panels: dict[str, list[str]] = {}
    for name in curves:
        panels.setdefault(_panel(name), []).append(name)
    order = [p for p in ("loss", "loss terms", "validation recall", "other") if p in panels]
    figure = new_figure(11.0, 7.5, dpi=check_int(dpi, "dpi"))
    grid = figure.add_gridspec(2, len(order), height_ratios=[3.0, 1.4])
    colours: dict[str, Any] = {}
    for column, panel in enumerate(order):
        ax = figure.add_subplot(grid[0, column])
        plotted = []
        for name in panels[panel]:
            steps, values = curves[name]
            # "val_loss/x" shares the colour of "loss/x".
            base = name[4:] if name.startswith("val_") else name
            line = ax.plot(
                steps,
                values,
                linestyle="--" if name.startswith("val") else "-",
                marker="o" if len(steps) < 20 else None,
                markersize=3,
                label=name,
                color=colours.get(base),
            )[0]
            colours.setdefault(base, line.get_color())
            plotted += [v for v in values if math.isfinite(v)]
        if plotted and min(plotted) > 0:
            ax.set_yscale("log")
        ax.set_title(panel)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6 if len(panels[panel]) > 6 else 8)

    ax = figure.add_subplot(grid[1, :])
    ax.axis("off")
    ax.set_title("retrieval")
    if cells and metrics:
        table = ax.table(cellText=cells, rowLabels=list(retrieval), colLabels=metrics, loc="center")
        table.scale(1.0, 1.3)
    else:
        ax.text(0.5, 0.5, "no retrieval results", ha="center", va="center", color="0.4")
    last = history[-1]
    figure.suptitle(
        f"Training: {len(history)} records, step {_number(last['step']):g}, "
        f"loss {_number(last['loss']):.4g}"
    )
    return save(figure, path)

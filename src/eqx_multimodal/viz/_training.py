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


#: The panels of the report, in order, and how each is drawn.
PANELS = (
    "loss",
    "contrastive terms",
    "reconstruction terms",
    "temperatures",
    "validation recall",
    "throughput",
    "other",
)
_LOG_PANELS = {"loss", "contrastive terms", "reconstruction terms"}


def _panel(name: str) -> tuple[str, str, bool]:
    """`(panel, series, validation)`: where a history key is drawn, the series it belongs
    to (one colour each), and whether it is a validation value (dashed)."""
    validation = name.startswith("val")
    bare = name.removeprefix("val_").removeprefix("val/")
    if bare == "loss":
        return "loss", name, validation
    if bare == "score":
        return "validation recall", name, False
    if bare.startswith("contrastive/"):
        return "contrastive terms", bare.split("/", 1)[1], validation
    if bare.startswith(("recon/", "cycle/")):
        return "reconstruction terms", bare, validation
    if bare.startswith("temperature/"):
        return "temperatures", bare.split("/", 1)[1], validation
    if bare.startswith("recall@"):
        # "val_recall@1 image->audio": one colour a pair, R@1 solid, R@10 dashed.
        at, _, pair = bare.partition(" ")
        return "validation recall", pair or at, at != "recall@1"
    if bare in ("steps_per_sec", "alignment"):
        return "throughput", bare, False
    return "other", name, validation


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
    """Training curves and a retrieval table, written as one PNG.

    Every numeric key of the history other than `"step"` is a curve, drawn against the
    step where it is present, in one of the panels of `PANELS` (those that have curves,
    three a row, the table below them): the loss and the validation loss (each its own
    colour); the contrastive terms and the reconstruction (and cycle) terms, one colour
    a pair or modality, validation dashed; the temperatures; the validation recall, one
    colour a pair, R@1 solid and R@10 dashed (and the score that picks the best
    checkpoint, black); throughput (steps/s, and the alignment when a curriculum moves
    it); anything else. Loss panels whose values are all positive have a log scale.

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
        panel, _, _ = _panel(name)
        values = curves[name][1]
        if name == "alignment" and len(set(values)) == 1:
            continue  # a constant alignment is in the title, not a curve
        panels.setdefault(panel, []).append(name)
    order = [p for p in PANELS if p in panels]
    columns = min(3, len(order))
    rows = -(-len(order) // columns)
    figure = new_figure(4.2 * columns + 0.8, 3.2 * rows + 2.4, dpi=check_int(dpi, "dpi"))
    grid = figure.add_gridspec(rows + 1, columns, height_ratios=[3.0] * rows + [2.0])
    palette = [f"C{i}" for i in range(10)]
    for index, panel in enumerate(order):
        ax = figure.add_subplot(grid[index // columns, index % columns])
        colours: dict[str, str] = {}
        plotted = []
        for name in panels[panel]:
            steps, values = curves[name]
            _, series, dashed = _panel(name)
            colour = colours.setdefault(series, palette[len(colours) % len(palette)])
            ax.plot(
                steps,
                values,
                linestyle="--" if dashed else "-",
                marker="o" if len(steps) < 20 else None,
                markersize=3,
                label=name,
                color="black" if name == "val_score" else colour,
            )
            plotted += [v for v in values if math.isfinite(v)]
        if panel in _LOG_PANELS and plotted and min(plotted) > 0:
            ax.set_yscale("log")
        ax.set_title(panel)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        many = len(panels[panel]) > 6
        ax.legend(fontsize=6 if many else 7, ncol=2 if many else 1)

    ax = figure.add_subplot(grid[rows, :])
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

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


def _best_step(curves: Mapping[str, tuple[list[float], list[float]]]) -> float | None:
    """The step of the best validation score (the first, as `fit` keeps it)."""
    steps, values = curves.get("val_score", ([], []))
    finite = [(v, -i) for i, v in enumerate(values) if math.isfinite(v)]
    return steps[-max(finite)[1]] if finite else None


def _evaluation_table(
    retrieval: Mapping[str, Mapping[str, Any]], evaluation: Mapping[str, Any]
) -> tuple[list[str], list[str], list[list[str]]]:
    """The rows, columns and cells of the final table: the retrieval metrics, the
    two-tower R@1 of re-ranked pairs, and the same-label P@1 when the data has labels."""
    metrics = list(dict.fromkeys(m for row in retrieval.values() for m in row))
    two_tower = evaluation.get("retrieval_two_tower") or {}
    labels = evaluation.get("label_retrieval") or {}
    rows = list(dict.fromkeys([*retrieval, *labels]))
    columns = [*metrics]
    if two_tower:
        columns.append("two-tower recall@1")
    if labels:
        columns.append("same-label P@1")
    cells = []
    for d in rows:
        row = retrieval.get(d, {})
        line = [_cell(row[m], f"[{d!r}][{m!r}]") if m in row else "-" for m in metrics]
        if two_tower:
            got = two_tower.get(d, {})
            line.append(f"{_number(got['recall@1']):.3g}" if "recall@1" in got else "-")
        if labels:
            got = labels.get(d, {})
            line.append(f"{_number(got['precision@1']):.3g}" if "precision@1" in got else "-")
        cells.append(line)
    return rows, columns, cells


def _checkpoint_lines(evaluation: Mapping[str, Any], best: float | None) -> str:
    """Which checkpoint the final table is of, and which is the best by validation."""
    step = _number(evaluation.get("checkpoint_step"))
    parts = []
    if step is not None:
        parts.append(f"evaluated: the latest checkpoint, step {step:g}")
    if best is not None:
        parts.append(f"best by validation recall: step {best:g} (evaluate --best)")
    return "; ".join(parts)


def training_report(
    history: Sequence[Mapping[str, Any]],
    retrieval: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    dpi: int = 100,
    evaluation: Mapping[str, Any] | None = None,
) -> Any:
    """Training curves and a retrieval table, written as one PNG.

    Every numeric key of the history other than `"step"` is a curve, drawn against the
    step where it is present, in one of the panels of `PANELS` (those that have curves,
    three a row, the last of a row widened to fill it; the validation recall in a row of
    its own, its legend beside it; the table below them): the loss and the validation
    loss (each its own colour); the contrastive terms and the reconstruction (and cycle)
    terms, one colour a pair or modality, validation dashed; the temperatures; the
    validation recall of the two towers (as `fit` validates), one colour a pair, R@1
    solid and R@10 dashed (and the score that picks the best checkpoint, black);
    throughput (steps/s, and the alignment when a curriculum moves it); anything else.
    Loss panels whose values are all positive have a log scale. The step of the best
    validation score is marked (dotted) on the loss and recall panels.

    **Arguments:**

    - `history`: a list of dicts, each with a numeric `"step"` and `"loss"` and any
        other numbers, e.g. `{"step": 100, "loss": 0.7, "val_loss": 0.8}`.
    - `retrieval`: `{direction: {metric: value}}`, e.g. `{"image->audio":
        {"recall@1": 0.2, "median_rank": 5.0}}`; may be empty.
    - `path`: where to write the PNG.
    - `dpi`: keyword only. Pixels an inch.
    - `evaluation`: keyword only. The rest of the evaluation (`training.evaluate`'s
        result, as `evaluation.json`): the table then says which pairs were re-ranked
        (with their two-tower recall@1 beside), the same-label precision@1 and the
        zero-shot accuracy when the data has labels, and which checkpoint it evaluated
        (`"checkpoint_step"`, marked on the curves).

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
    if evaluation is None:
        evaluation = {}
    if not isinstance(evaluation, Mapping):
        raise TypeError(f"`evaluation` must be a dict or None, got {evaluation!r:.80}")
    rows_of_table, columns_of_table, cells = _evaluation_table(retrieval, evaluation)
    best = _best_step(curves)
    evaluated = _number(evaluation.get("checkpoint_step"))

    panels: dict[str, list[str]] = {}
    for name in curves:
        panel, _, _ = _panel(name)
        values = curves[name][1]
        if name == "alignment" and len(set(values)) == 1:
            continue  # a constant alignment is in the title, not a curve
        if not any(math.isfinite(v) for v in values):
            continue  # nothing to draw: no empty panel
        panels.setdefault(panel, []).append(name)
    recall = panels.pop("validation recall", None)
    order = [p for p in PANELS if p in panels]
    columns = max(1, min(3, len(order)))
    rows = -(-len(order) // columns)
    heights = [3.0] * rows + ([3.0] if recall else []) + [2.0]
    figure = new_figure(4.2 * columns + 0.8, 3.2 * len(heights) - 0.8, dpi=check_int(dpi, "dpi"))
    grid = figure.add_gridspec(len(heights), columns, height_ratios=heights)
    palette = [f"C{i}" for i in range(10)]

    def draw(ax: Any, panel: str, names: list[str]) -> list[Any]:
        colours: dict[str, str] = {}
        plotted = []
        for name in names:
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
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        marks = []
        if best is not None and panel in ("loss", "validation recall"):
            marks.append(ax.axvline(best, color="0.3", linestyle=":", label="best checkpoint"))
        return marks

    for index, panel in enumerate(order):
        row, column = divmod(index, columns)
        last = index == len(order) - 1
        ax = figure.add_subplot(grid[row, column:] if last else grid[row, column])
        draw(ax, panel, panels[panel])
        ax.set_title(panel)
        many = len(panels[panel]) > 6
        ax.legend(fontsize=6 if many else 7, ncol=2 if many else 1)
    if recall:
        cell = grid[rows, :].subgridspec(1, 2, width_ratios=[3.0, 1.0])
        ax = figure.add_subplot(cell[0, 0])
        marks = draw(ax, "validation recall", recall)
        ax.set_title("validation recall, two-tower (R@1 solid, R@10 dashed)")
        # The legend beside the curves: a colour a pair, then the styles.
        from matplotlib.lines import Line2D

        handles, seen = [], {}
        for line in ax.lines:
            label = line.get_label()
            if label.startswith("_") or line in marks:
                continue
            _, series, _ = _panel(label)
            key = "val_score (picks the best)" if label == "val_score" else series
            if key not in seen:
                seen[key] = line.get_color()
                handles.append(Line2D([], [], color=line.get_color(), label=key))
        handles += [
            Line2D([], [], color="0.3", linestyle="-", label="R@1"),
            Line2D([], [], color="0.3", linestyle="--", label="R@10"),
            *marks,
        ]
        side = figure.add_subplot(cell[0, 1])
        side.axis("off")
        side.legend(handles=handles, loc="center left", fontsize=7, frameon=False)

    ax = figure.add_subplot(grid[len(heights) - 1, :])
    ax.axis("off")
    reranked = sorted(evaluation.get("retrieval_two_tower") or {})
    title = "retrieval on held-out data"
    if evaluation:
        title += (
            f" ({', '.join(reranked)} re-ranked by the verifier, the rest two-tower)"
            if reranked
            else " (two-tower)"
        )
    if cells and columns_of_table:
        table = ax.table(
            cellText=cells, rowLabels=rows_of_table, colLabels=columns_of_table, loc="center"
        )
        table.scale(1.0, 1.3)
    else:
        ax.text(0.5, 0.5, "no retrieval results", ha="center", va="center", color="0.4")
    notes = []
    zero_shot = evaluation.get("zero_shot") or {}
    if zero_shot:
        shots = ", ".join(f"{m} {_number(v):.3g}" for m, v in zero_shot.items())
        notes.append(f"zero-shot accuracy from the label names: {shots}")
    which = _checkpoint_lines(evaluation, best)
    if which:
        notes.append(which)
    ax.set_title("\n".join([title, *notes]))
    last = history[-1]
    evaluated_text = "" if evaluated is None else f", evaluated at step {evaluated:g}"
    figure.suptitle(
        f"Training: {len(history)} records, step {_number(last['step']):g}, "
        f"loss {_number(last['loss']):.4g}{evaluated_text}"
    )
    return save(figure, path)

"""Shared by every figure: matplotlib imported on first use, drawn off-screen with Agg."""

import os
from collections.abc import Sequence
from typing import Any

from .._validation import check_real


VIZ_HINT = 'matplotlib is needed for figures: pip install "eqx-multimodal[viz]"'

DEFAULT_ALIGNMENTS = (0.0, 0.3, 0.6, 0.9, 1.0)


def require_matplotlib() -> None:
    """Raise an ImportError that says how to install matplotlib, when it is missing."""
    _matplotlib()


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(VIZ_HINT) from error
    return Figure, FigureCanvasAgg


def new_figure(width: float, height: float, *, dpi: int) -> Any:
    """A figure of `width` x `height` inches on an Agg canvas.

    A bare `Figure` rather than `pyplot.figure`: no backend is selected, no window can
    open and nothing is kept alive by pyplot's registry once the caller drops it.
    """
    Figure, FigureCanvasAgg = _matplotlib()
    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Any, path: str | os.PathLike | None) -> Any:
    """Write `figure` as a PNG of exactly its size in inches times its dpi."""
    if path is not None:
        figure.savefig(path, dpi=figure.dpi, format="png")
    return figure


def check_alignments(alignments: Sequence[float], name: str = "alignments") -> tuple[float, ...]:
    """A non-empty sequence of distinct alignment strengths in [0, 1]."""
    if isinstance(alignments, str) or not isinstance(alignments, Sequence) or not alignments:
        raise TypeError(
            f"`{name}` must be a non-empty list of numbers in [0, 1], got {alignments!r}"
        )
    values = tuple(
        check_real(a, f"{name}[{i}]", low=0.0, high=1.0) for i, a in enumerate(alignments)
    )
    if len(set(values)) != len(values):
        raise ValueError(f"`{name}` must not repeat a value, got {list(values)}")
    return values

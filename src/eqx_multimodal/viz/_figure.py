"""Shared by every figure: matplotlib imported on first use, drawn off-screen with Agg."""

import os
from typing import Any


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

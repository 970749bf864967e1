"""Figures (matplotlib, the optional `viz` extra) of samples, alignment and training."""

from ._alignment import (
    alignment_figure as alignment_figure,
    alignment_sweep as alignment_sweep,
    correlation_with_clean as correlation_with_clean,
)
from ._figure import require_matplotlib as require_matplotlib
from ._preview import preview_figure as preview_figure
from ._samples import draw_item as draw_item, samples_figure as samples_figure
from ._training import training_report as training_report
from ._translation import (
    generation_figure as generation_figure,
    translation_figure as translation_figure,
)

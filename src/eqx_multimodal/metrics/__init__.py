"""Measurements: how aligned the data is, and how well models retrieve across modalities."""

from ._alignment import (
    alignment_dependence as alignment_dependence,
    audio_dependence as audio_dependence,
    image_dependence as image_dependence,
    text_dependence as text_dependence,
)
from ._retrieval import (
    retrieval_metrics as retrieval_metrics,
    retrieval_metrics_from_scores as retrieval_metrics_from_scores,
    retrieval_ranks as retrieval_ranks,
    score_ranks as score_ranks,
)

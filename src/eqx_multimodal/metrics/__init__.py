"""Measurements: how well models retrieve across modalities, and how coherent, faithful
and diverse generated items are.

The guide's alignment measures, observation-only ceilings and reference coherence live
in `eqx_multimodal.guide`; their old names here still work
(`metrics.achievable_retrieval`, ...), looked up on first use, so that importing the core
imports nothing of the guide."""

from ._fidelity import (
    frechet_distance as frechet_distance,
    sample_diversity as sample_diversity,
)
from ._judges import (
    coherence_accuracy as coherence_accuracy,
    Judge as Judge,
    judge_accuracy as judge_accuracy,
    judge_features as judge_features,
    train_judge as train_judge,
)
from ._labels import label_precision as label_precision, zero_shot_accuracy as zero_shot_accuracy
from ._retrieval import (
    retrieval_metrics as retrieval_metrics,
    retrieval_metrics_from_scores as retrieval_metrics_from_scores,
    retrieval_ranks as retrieval_ranks,
    score_ranks as score_ranks,
)


#: The guide's names this module still answers to (they moved to `eqx_multimodal.guide`).
_MOVED_TO_GUIDE = (
    "achievable_retrieval",
    "alignment_dependence",
    "audio_dependence",
    "folded_token_histogram",
    "image_dependence",
    "text_dependence",
    "audio_tone_set",
    "CEILING_PAIRS",
    "ceiling_scores",
    "image_log_likelihood",
    "match_tones_to_gratings",
    "observation_scores",
    "reference_coherence",
    "text_log_likelihood_given_image",
    "text_set_log_likelihood",
)


def __getattr__(name: str) -> object:
    # Old import paths of names that moved to the guide, resolved on first use: the
    # core does not import the guide, a caller of an old name does.
    if name in _MOVED_TO_GUIDE:
        import importlib

        return getattr(importlib.import_module("eqx_multimodal.guide"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

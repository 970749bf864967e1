"""Measurements: how aligned the data is, how well models retrieve across modalities, and
how coherent, faithful and diverse generated items are."""

from ._alignment import (
    alignment_dependence as alignment_dependence,
    audio_dependence as audio_dependence,
    folded_token_histogram as folded_token_histogram,
    image_dependence as image_dependence,
    text_dependence as text_dependence,
)
from ._ceilings import (
    achievable_retrieval as achievable_retrieval,
    audio_tone_set as audio_tone_set,
    CEILING_PAIRS as CEILING_PAIRS,
    ceiling_scores as ceiling_scores,
    image_log_likelihood as image_log_likelihood,
    match_tones_to_gratings as match_tones_to_gratings,
    observation_scores as observation_scores,
    text_log_likelihood_given_image as text_log_likelihood_given_image,
    text_set_log_likelihood as text_set_log_likelihood,
)
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
from ._reference import reference_coherence as reference_coherence
from ._retrieval import (
    retrieval_metrics as retrieval_metrics,
    retrieval_metrics_from_scores as retrieval_metrics_from_scores,
    retrieval_ranks as retrieval_ranks,
    score_ranks as score_ranks,
)

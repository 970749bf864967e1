"""The guide: a client of the core. What serves only the guide's synthetic data, built
on the core's seams (`training.AbstractReranker`, `training.AbstractDataSource`): its
re-ranker, the alignment measures of its data, its observation-only ceilings and its
reference coherence."""

from ._alignment import (
    alignment_dependence as alignment_dependence,
    audio_dependence as audio_dependence,
    folded_token_histogram as folded_token_histogram,
    GUIDE_MEASURED as GUIDE_MEASURED,
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
from ._reference import (
    evaluate_reference_coherence as evaluate_reference_coherence,
    reference_coherence as reference_coherence,
)
from ._rerank import SetReranker as SetReranker

"""The guide: a client of the core. Its synthetic data (a data config of the core's,
`SyntheticConfig`, rendered inside the step by the core's `SyntheticSource`), and what
serves only that data, built on the core's seams (`training.AbstractDataConfig`,
`training.AbstractReranker`, `nn.register_towers`): its towers (`guide.towers`), its
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
from ._sharded import sharded_synthetic_batch as sharded_synthetic_batch
from ._synthetic import (
    audio_from_latent as audio_from_latent,
    audio_tone as audio_tone,
    GUIDE_RENDERERS as GUIDE_RENDERERS,
    image_from_latent as image_from_latent,
    image_pattern as image_pattern,
    sample_from_latent as sample_from_latent,
    synthetic_batch as synthetic_batch,
    synthetic_item as synthetic_item,
    text_from_latent as text_from_latent,
    token_groups as token_groups,
    token_logits as token_logits,
)
from ._synthetic_config import (
    GUIDE_MODALITIES as GUIDE_MODALITIES,
    SyntheticConfig as SyntheticConfig,
    training_alignment as training_alignment,
)
from ._synthetic_dataset import SyntheticDataset as SyntheticDataset

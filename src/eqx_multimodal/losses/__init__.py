"""Losses: reconstruction per modality, contrastive alignment, cycle consistency."""

from ._contrastive import clip_loss as clip_loss, siglip_loss as siglip_loss
from ._generation import (
    generation_loss as generation_loss,
    random_subsets as random_subsets,
)
from ._reconstruction import (
    decoder_loss as decoder_loss,
    default_fft_sizes as default_fft_sizes,
    generator_loss as generator_loss,
    multi_resolution_stft_loss as multi_resolution_stft_loss,
    pixel_loss as pixel_loss,
    reconstruction_loss as reconstruction_loss,
    token_cross_entropy as token_cross_entropy,
    waveform_loss as waveform_loss,
)
from ._shared_latent import (
    LossWeights as LossWeights,
    reconstruction_terms as reconstruction_terms,
    shared_latent_loss as shared_latent_loss,
)

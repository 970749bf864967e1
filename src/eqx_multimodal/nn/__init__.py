"""Equinox modules: encoders, decoders, fusion, cross-modal generators and the shared
latent space (one example each; callers vmap)."""

from ._base import AbstractDecoder as AbstractDecoder, AbstractEncoder as AbstractEncoder
from ._decoders import (
    AudioDecoder as AudioDecoder,
    ImageDecoder as ImageDecoder,
    SpectrogramDecoder as SpectrogramDecoder,
    TextDecoder as TextDecoder,
    TokenBagDecoder as TokenBagDecoder,
)
from ._encoders import (
    AudioEncoder as AudioEncoder,
    CentredBagEncoder as CentredBagEncoder,
    GratingImageEncoder as GratingImageEncoder,
    GratingSetEncoder as GratingSetEncoder,
    GroupCountEncoder as GroupCountEncoder,
    ImageEncoder as ImageEncoder,
    MLPEncoder as MLPEncoder,
    PeakAudioEncoder as PeakAudioEncoder,
    TextEncoder as TextEncoder,
    TokenBagEncoder as TokenBagEncoder,
    ToneSetEncoder as ToneSetEncoder,
)
from ._fusion import (
    AttentionFusion as AttentionFusion,
    early_fusion as early_fusion,
    EarlyFusion as EarlyFusion,
    GatedFusion as GatedFusion,
    late_fusion as late_fusion,
    LateFusion as LateFusion,
)
from ._generation import (
    FUSIONS as FUSIONS,
    GenerativeModel as GenerativeModel,
    Generators as Generators,
    make_fusion as make_fusion,
    make_generators as make_generators,
    ModalityGenerator as ModalityGenerator,
)
from ._generators import (
    CrossModalGenerator as CrossModalGenerator,
    make_generator as make_generator,
)
from ._set_decoder import GratingSetDecoder as GratingSetDecoder, matching as matching
from ._set_fits import (
    fit_grating_set as fit_grating_set,
    floored_noise as floored_noise,
    grating_log_likelihood as grating_log_likelihood,
    GratingFit as GratingFit,
    RELATIVE_NOISE_FLOOR as RELATIVE_NOISE_FLOOR,
    scale_sign_posterior as scale_sign_posterior,
    SignPosterior as SignPosterior,
    tone_set as tone_set,
    ToneSet as ToneSet,
)
from ._shared_latent import l2_normalize as l2_normalize, SharedLatentModel as SharedLatentModel
from ._signal import (
    fit_gratings as fit_gratings,
    grating_products as grating_products,
    griffin_lim as griffin_lim,
    GUIDE_FREQUENCIES as GUIDE_FREQUENCIES,
    istft as istft,
    log_spectrogram as log_spectrogram,
    mel_filterbank as mel_filterbank,
    product_weights as product_weights,
    spectral_peaks as spectral_peaks,
    stft as stft,
    stft_magnitude as stft_magnitude,
)
from ._towers import (
    default_towers as default_towers,
    make_decoder as make_decoder,
    make_encoder as make_encoder,
    TOWERS as TOWERS,
)

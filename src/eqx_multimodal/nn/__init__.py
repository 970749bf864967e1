"""Equinox modules: encoders, fusion and cross-modal generators (one example each)."""

from ._encoders import (
    AudioEncoder as AudioEncoder,
    ImageEncoder as ImageEncoder,
    MLPEncoder as MLPEncoder,
    TextEncoder as TextEncoder,
    TokenBagEncoder as TokenBagEncoder,
)
from ._fusion import (
    AttentionFusion as AttentionFusion,
    early_fusion as early_fusion,
    GatedFusion as GatedFusion,
    late_fusion as late_fusion,
)
from ._generators import (
    AudioDecoder as AudioDecoder,
    CrossModalGenerator as CrossModalGenerator,
    ImageDecoder as ImageDecoder,
    make_decoder as make_decoder,
    make_encoder as make_encoder,
    make_generator as make_generator,
    TextDecoder as TextDecoder,
    TokenBagDecoder as TokenBagDecoder,
)
from ._parametric_encoders import (
    fit_gratings as fit_gratings,
    GratingImageEncoder as GratingImageEncoder,
    GUIDE_FREQUENCIES as GUIDE_FREQUENCIES,
    PeakAudioEncoder as PeakAudioEncoder,
    spectral_peaks as spectral_peaks,
)
from ._shared_latent import (
    l2_normalize as l2_normalize,
    SharedLatentModel as SharedLatentModel,
)
from ._spectral import (
    log_spectrogram as log_spectrogram,
    mel_filterbank as mel_filterbank,
    stft_magnitude as stft_magnitude,
)
from ._spectral_encoders import (
    FourierImageEncoder as FourierImageEncoder,
    SpectrumAudioEncoder as SpectrumAudioEncoder,
)

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
    ImageEncoder as ImageEncoder,
    MLPEncoder as MLPEncoder,
    TextEncoder as TextEncoder,
    TokenBagEncoder as TokenBagEncoder,
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
from ._shared_latent import l2_normalize as l2_normalize, SharedLatentModel as SharedLatentModel
from ._signal import (
    griffin_lim as griffin_lim,
    istft as istft,
    log_spectrogram as log_spectrogram,
    mel_filterbank as mel_filterbank,
    stft as stft,
    stft_magnitude as stft_magnitude,
)
from ._towers import (
    default_towers as default_towers,
    get_towers as get_towers,
    make_decoder as make_decoder,
    make_encoder as make_encoder,
    register_towers as register_towers,
    tower_names as tower_names,
    TowerFamily as TowerFamily,
    UnknownTowersError as UnknownTowersError,
)


#: The guide's towers and fits, which moved to `eqx_multimodal.guide.towers`: their old
#: names here still work, through a lookup on first use (the core never makes it).
MOVED_TO_THE_GUIDE = (
    "CentredBagEncoder",
    "fit_grating_set",
    "fit_gratings",
    "floored_noise",
    "grating_log_likelihood",
    "grating_products",
    "GratingFit",
    "GratingImageEncoder",
    "GratingSetDecoder",
    "GratingSetEncoder",
    "GroupCountEncoder",
    "GUIDE_FREQUENCIES",
    "matching",
    "PeakAudioEncoder",
    "product_weights",
    "RELATIVE_NOISE_FLOOR",
    "scale_sign_posterior",
    "SignPosterior",
    "spectral_peaks",
    "tone_set",
    "ToneSet",
    "ToneSetEncoder",
)


def __dir__() -> list[str]:
    return sorted({*globals(), *MOVED_TO_THE_GUIDE, "TOWERS"})


def __getattr__(name: str):
    # `TOWERS`, the registered families' names, as it was when it was a constant.
    if name == "TOWERS":
        return tower_names()
    if name in MOVED_TO_THE_GUIDE:
        import importlib

        return getattr(importlib.import_module("eqx_multimodal.guide.towers"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Encoders, one module per modality family: generic towers for any data, and towers
fitted to the guide's synthetic signals."""

from .audio import (
    AudioEncoder as AudioEncoder,
    PeakAudioEncoder as PeakAudioEncoder,
    ToneSetEncoder as ToneSetEncoder,
)
from .image import (
    GratingImageEncoder as GratingImageEncoder,
    GratingSetEncoder as GratingSetEncoder,
    ImageEncoder as ImageEncoder,
    MLPEncoder as MLPEncoder,
)
from .text import (
    CentredBagEncoder as CentredBagEncoder,
    GroupCountEncoder as GroupCountEncoder,
    TextEncoder as TextEncoder,
    TokenBagEncoder as TokenBagEncoder,
)

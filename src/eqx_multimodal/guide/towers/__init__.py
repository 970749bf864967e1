"""The guide's towers: encoders fitted to its synthetic signals, their parameter-free
fits (gratings fitted to an image, the spectral peaks of a clip), the set decoder of its
images, and the registrations of its two families, `"guide"` and `"sets"`
(`nn.register_towers`; the core's registry imports this package on the first lookup of
a family). Their old names in `eqx_multimodal.nn` still work."""

from ._encoders import (
    CentredBagEncoder as CentredBagEncoder,
    GratingImageEncoder as GratingImageEncoder,
    GratingSetEncoder as GratingSetEncoder,
    GroupCountEncoder as GroupCountEncoder,
    PeakAudioEncoder as PeakAudioEncoder,
    ToneSetEncoder as ToneSetEncoder,
)
from ._families import GUIDE as GUIDE, SETS as SETS
from ._fits import (
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
from ._set_decoder import GratingSetDecoder as GratingSetDecoder, matching as matching
from ._signal import (
    fit_gratings as fit_gratings,
    grating_products as grating_products,
    GUIDE_FREQUENCIES as GUIDE_FREQUENCIES,
    product_weights as product_weights,
    spectral_peaks as spectral_peaks,
)

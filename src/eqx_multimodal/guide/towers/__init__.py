"""The guide's towers: encoders fitted to its synthetic signals, their parameter-free
fits, the set decoder of its images, and the registrations of its two families,
`"guide"` and `"sets"` (`nn.register_towers`; the core's registry imports this package
on the first lookup of a family). Their old names in `eqx_multimodal.nn` still work."""

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

"""Observation-only reference scorers ("ceilings") for the built-in synthetic data.

A model trained on the synthetic data of `eqx_multimodal.data` should be compared with
what the data allows, not only with chance. This module scores every ordered pair of
image, text and audio with matchers that see only the rendered observations (and the
known rendering formulas and alignment `a`), never the latent `z`:

- **audio**: `audio_tone_set` reads the 10 signed values `z_0..z_9` from one waveform,
    as an unordered set. The renderer sums tones of frequency `100 + 1900 frac|z_i|` Hz,
    amplitude `0.1 |z_i|` and phase `2 pi z_i`, mixes them as `a tone + (1 - a) 0.1
    N(0, 1)` and divides by the peak, so the frequency gives `frac|z_i|`, the amplitude
    relative to the noise floor gives `|z_i|` (`a 0.1 |z_i|` against `(1 - a) 0.1`, both
    scaled alike by the peak) and the phase at `t = 0`, `frac(z_i)`, gives the sign.
- **image**: `image_log_likelihood` is the Gaussian likelihood of an image given the
    8 grating latents; `match_tones_to_gratings` assigns 8 of an audio clip's 10 values
    to the 8 gratings (greedy starts and local search).
- **text**: `text_log_likelihood` is the exact likelihood of a text given the latents a
    view shows, the others integrated out under their standard-normal prior;
    `text_set_log_likelihood` sums it over the matchings of an audio clip's tones to
    the token groups (a permanent); `text_log_likelihood_given_image` averages it over
    the posterior of an image's latents (`image_latent_posterior`: the image leaves
    the sign of many `z_k` open).

`achievable_retrieval` runs them on a gallery and reports recall@k and the median rank
for each ordered pair: what a retrieval model could reach on that gallery.

The computations run in float64 (the likelihoods differ between gallery items by less
than float32 resolves in places); JAX is switched to 64-bit inside this module's
functions only, with `jax.enable_x64`.

Approximations (each also said where it is made):

- the image's min-max normalisations are treated as an unknown offset and gain (the
    two extreme pixels' noise is not Gaussian after them); the noise variance is a
    third unknown, all three maximised out (a profile likelihood);
- the text's token groups of the 10 audio latents are given their mean size in the
    softmax normaliser, so that the normaliser does not depend on the matching (the
    sizes are 32 and 31: a difference of 1/31 in the weight of one latent);
- the image posterior is over the lattice `z_k = phase_k + m` (the phases fitted
    once, `m` an integer), on the configurations that Gibbs chains visit, each weighted
    by its exact posterior probability;
- the assignment of tones to gratings is the best that a local search finds, not the
    exhaustive optimum (`tests/test_ceilings.py` compares the two), and it is searched
    harder (random restarts) only for a shortlist of each query's best candidates.

At alignment 1 there is no noise: the audio's amplitudes give `|z_i|` only up to one
common scale, which the tones' frequencies fix (see `audio_tone_set`), and every
likelihood is sharp. At alignment 0 the observations do not depend on the latent at
all; `achievable_retrieval` then reports chance without computing anything, and the
scorers that need a signal (`audio_tone_set`, `ceiling_scores`) refuse it.
"""

from ._assignment import (
    match_tones_to_gratings as match_tones_to_gratings,
)
from ._audio import (
    audio_tone_set as audio_tone_set,
    ReferenceToneSet as ReferenceToneSet,
)
from ._common import (
    CEILING_PAIRS as CEILING_PAIRS,
)
from ._cross import (
    observation_scores as observation_scores,
)
from ._image import (
    fit_image_gratings as fit_image_gratings,
    image_log_likelihood as image_log_likelihood,
    image_statistics as image_statistics,
    ImageStatistics as ImageStatistics,
    NOISE_FLOOR as NOISE_FLOOR,
    ReferenceGratingFit as ReferenceGratingFit,
)
from ._posterior import (
    image_latent_posterior as image_latent_posterior,
    LatentPosterior as LatentPosterior,
    text_log_likelihood_given_image as text_log_likelihood_given_image,
)
from ._scores import (
    achievable_retrieval as achievable_retrieval,
    ceiling_scores as ceiling_scores,
)
from ._text import (
    log_permanent as log_permanent,
    text_log_likelihood as text_log_likelihood,
    text_log_marginal as text_log_marginal,
    text_set_log_likelihood as text_set_log_likelihood,
    token_counts as token_counts,
)

"""The guide's encoders, fitted to its synthetic signals: the `"guide"` towers
(`GratingImageEncoder`, `CentredBagEncoder`, `PeakAudioEncoder`) and the set towers of
`"sets"` (`GratingSetEncoder`, `ToneSetEncoder`, `GroupCountEncoder`)."""

import functools
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..._types import Embedding, Image, Tokens, Waveform
from ..._validation import check_int, check_real, check_shape
from ...nn import AbstractEncoder
from ...nn._encoders._checks import check_example
from ...nn._layers import DeepSet, ElementMLP
from ._fits import fit_grating_set, GratingFit, scale_sign_posterior, tone_set, ToneSet
from ._signal import (
    check_frequencies,
    fit_gratings,
    GUIDE_FREQUENCIES,
    hann_peaks,
    harmonics,
    relative_amplitudes,
    spectral_peaks,
)


class GratingImageEncoder(AbstractEncoder):
    """`fit_gratings` -> per-grating features -> DeepSets, plus an indexed head.

    Each grating `k` becomes the harmonics of its doubled phase and its amplitude relative
    to the others; a shared MLP encodes each and the results are pooled by amplitude (the
    audio has the same components in no order). A linear head on the MLP's outputs for
    all gratings in order is added, for modalities that know which grating is which (the
    text, whose token counts say something about each signed `z_k`: a nonlinear function
    of the grating's phase and amplitude).

    ```python
    >>> import jax.random as jr
    >>> encoder = GratingImageEncoder((16, 16, 1), 64, hidden=32, key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (16, 16, 1))).shape
    (64,)

    ```
    """

    components: DeepSet
    indexed_head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    frequencies: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    num_phases: int = eqx.field(static=True)
    sweeps: int = eqx.field(static=True)
    modality: ClassVar[str] = "image"

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        frequencies: Sequence[float] = GUIDE_FREQUENCIES,
        harmonics: int = 3,
        hidden: int = 128,
        num_phases: int = 180,
        sweeps: int = 8,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)`; channels are averaged.
        - `d_model`: the embedding size.
        - `frequencies`: keyword only. The gratings' frequencies, rad per unit.
        - `harmonics`: keyword only. Harmonics of each phase given to the MLP.
        - `hidden`: keyword only. Width of the per-grating MLP.
        - `num_phases`, `sweeps`: keyword only. Of `fit_gratings`.
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        self.d_model = check_int(d_model, "d_model")
        self.frequencies = check_frequencies(frequencies)
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        self.num_phases = check_int(num_phases, "num_phases", minimum=2)
        self.sweeps = check_int(sweeps, "sweeps")
        features = 2 * self.harmonics + 2
        set_key, indexed_key = jr.split(key)
        self.components = DeepSet(features, hidden, d_model, key=set_key)
        self.indexed_head = eqx.nn.Linear(hidden * len(self.frequencies), d_model, key=indexed_key)

    def gratings(self, image: Image) -> tuple[Float[Array, " K"], Float[Array, " K"]]:
        """The fitted amplitude and doubled phase of each grating (no gradient)."""
        check_example(image, self.image_shape, "image")
        gray = jnp.mean(jax.lax.stop_gradient(image), axis=-1)
        return fit_gratings(gray, self.frequencies, num_phases=self.num_phases, sweeps=self.sweeps)

    def __call__(self, image: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        amplitude, phase = self.gratings(image)
        relative, amplitude_features = relative_amplitudes(jnp.abs(amplitude))
        features = jnp.concatenate([harmonics(phase, self.harmonics), amplitude_features], -1)
        h = self.components.encode(features)
        return self.components.pool(h, relative) + self.indexed_head(h.reshape(-1))


def grating_features(fit: GratingFit, num_harmonics: int) -> Float[Array, "K f"]:
    """Per grating: its sign posterior (`p(+) - 1/2`, `E[z]`, `E|z|`, `log E|z|`),
    harmonics of its doubled phase, its log amplitude relative to the image's mean, its
    Laplace uncertainties (log phase std, log relative amplitude std, correlation), and
    the image's log signal-to-noise."""
    amplitude = jnp.maximum(fit.amplitude, 1e-4)
    mean = jnp.mean(amplitude)
    num = amplitude.shape[0]
    snr = jnp.log(mean**2 / (fit.noise + 1e-12) + 1e-6)
    post = scale_sign_posterior(fit)
    columns = [
        (post.plus - 0.5)[:, None],
        post.mean[:, None],
        post.magnitude[:, None],
        jnp.log(post.magnitude + 1e-3)[:, None],
        harmonics(fit.phase, num_harmonics),
        jnp.log(amplitude / mean)[:, None],
        jnp.log(fit.phase_std + 1e-3)[:, None],
        jnp.log(fit.amplitude_std / mean + 1e-3)[:, None],
        fit.correlation[:, None],
        jnp.broadcast_to(snr, (num, 1)) / 10,
    ]
    return jnp.concatenate(columns, axis=-1)


class GratingSetEncoder(AbstractEncoder):
    """`fit_grating_set` -> per-grating features -> a shared MLP -> two outputs,
    concatenated:

    - the set part (`d_set`): each grating's encoding mapped linearly and summed over
      the gratings, so that its dot product with `ToneSetEncoder`'s log-sum-exp pooled
      tones is a mixture likelihood of the gratings given the tones (it sums over the
      assignments of gratings to tones instead of fixing one);
    - the indexed part (`d_model - d_set`): a linear map of all gratings' encodings in
      order (grating `k` is latent `k`: for the text, which knows which is which).

    The MLP also sees each grating's index (one-hot) and the mean of all gratings'
    features (the image's scale and noise). The fit has no gradient.

    ```python
    >>> import jax.random as jr
    >>> encoder = GratingSetEncoder((16, 16, 1), 64, hidden=32, key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (16, 16, 1))).shape
    (64,)

    ```
    """

    elements: ElementMLP
    set_head: eqx.nn.Linear
    indexed_head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    frequencies: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    num_phases: int = eqx.field(static=True)
    starts: int = eqx.field(static=True)
    sweeps: int = eqx.field(static=True)
    modality: ClassVar[str] = "image"

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        d_set: int | None = None,
        frequencies: Sequence[float] = GUIDE_FREQUENCIES,
        harmonics: int = 4,
        hidden: int = 128,
        num_phases: int = 32,
        starts: int = 4,
        sweeps: int = 4,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)`.
        - `d_model`: the embedding size (at least 2).
        - `d_set`: keyword only. The size of the set part (default `d_model // 2`).
        - `frequencies`: keyword only. The gratings' frequencies (the guide's).
        - `harmonics`: keyword only. Harmonics of each grating's phase.
        - `hidden`: keyword only. Width of the per-grating MLP.
        - `num_phases`, `starts`, `sweeps`: keyword only. The fit's phase grid, its
            number of starts and its coordinate sweeps (`fit_grating_set`).
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        self.d_model = check_int(d_model, "d_model", minimum=2)
        d_set = self.d_model // 2 if d_set is None else d_set
        check_int(d_set, "d_set", maximum=self.d_model - 1)
        self.frequencies = check_frequencies(frequencies)
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        self.num_phases = check_int(num_phases, "num_phases", minimum=2)
        self.starts = check_int(starts, "starts")
        self.sweeps = check_int(sweeps, "sweeps")
        num = len(self.frequencies)
        features = 2 * self.harmonics + 9 + num
        k1, k2, k3 = jr.split(key, 3)
        # Each grating's features, its one-hot index and the mean of all gratings' features.
        self.elements = ElementMLP(2 * features, hidden, key=k1)
        self.set_head = eqx.nn.Linear(hidden, d_set, key=k2)
        self.indexed_head = eqx.nn.Linear(hidden * num, self.d_model - d_set, key=k3)

    def front(self, image: Image) -> GratingFit:
        """`fit_grating_set` of the image's mean over channels (no gradient)."""
        check_example(image, self.image_shape, "image")
        gray = jnp.mean(jax.lax.stop_gradient(image), axis=-1)
        return fit_grating_set(
            gray,
            self.frequencies,
            num_phases=self.num_phases,
            starts=self.starts,
            sweeps=self.sweeps,
        )

    def encode(self, fit: GratingFit) -> Embedding:
        """The embedding of a fit (as `front` returns it)."""
        fit = jax.lax.stop_gradient(fit)
        num = len(self.frequencies)
        x = jnp.concatenate([grating_features(fit, self.harmonics), jnp.eye(num)], axis=-1)
        context = jnp.broadcast_to(jnp.mean(x, axis=0), x.shape)
        h = self.elements(jnp.concatenate([x, context], axis=-1))
        pooled = jnp.sum(jax.vmap(self.set_head)(h), axis=0)
        return jnp.concatenate([pooled, self.indexed_head(h.reshape(-1))])

    def __call__(self, x: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        return self.encode(self.front(x))


def _check_band(
    num_samples: int, num_peaks: int, sample_rate: float, f_min: float, f_max: float
) -> None:
    """Fail now, with `hann_peaks`'s message, if the band has too few bins for the peaks
    (both peak towers find their tones with it)."""
    jax.eval_shape(
        functools.partial(
            hann_peaks, num_peaks=num_peaks, sample_rate=sample_rate, f_min=f_min, f_max=f_max
        ),
        jax.ShapeDtypeStruct((num_samples,), jnp.float32),
    )


class PeakAudioEncoder(AbstractEncoder):
    """`spectral_peaks` -> per-peak features -> DeepSets.

    Each peak becomes the harmonics of its position in the band (as an angle, `2 pi u`
    with `u` in [0, 1]) and of its phase, and its magnitude relative to the others; a
    shared MLP encodes each and the results are pooled by magnitude, so the order of the
    peaks does not matter.

    ```python
    >>> import jax.random as jr
    >>> encoder = PeakAudioEncoder(1000, 64, sample_rate=4000, hidden=32, key=jr.key(0))
    >>> encoder(jr.normal(jr.key(1), (1000,))).shape
    (64,)

    ```
    """

    components: DeepSet
    num_samples: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    sample_rate: float = eqx.field(static=True)
    f_min: float = eqx.field(static=True)
    f_max: float = eqx.field(static=True)
    num_peaks: int = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    modality: ClassVar[str] = "audio"

    def __init__(
        self,
        num_samples: int,
        d_model: int,
        *,
        sample_rate: int,
        f_min: float = 100.0,
        f_max: float = 2000.0,
        num_peaks: int = 10,
        harmonics: int = 3,
        hidden: int = 128,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_samples`: the length of the waveforms.
        - `d_model`: the embedding size.
        - `sample_rate`: keyword only. Hz.
        - `f_min`, `f_max`: keyword only. The band searched for peaks (the guide's
            tones lie in 100-2000 Hz).
        - `num_peaks`: keyword only. Peaks kept (the guide's audio has 10 tones).
        - `harmonics`: keyword only. Harmonics of each angle given to the MLP.
        - `hidden`: keyword only. Width of the per-peak MLP.
        - `key`: keyword only. The key of the initialisation.
        """
        self.num_samples = check_int(num_samples, "num_samples", minimum=3)
        self.d_model = check_int(d_model, "d_model")
        self.sample_rate = float(check_int(sample_rate, "sample_rate"))
        self.f_min = check_real(f_min, "f_min", low=0.0)
        self.f_max = check_real(f_max, "f_max", low=self.f_min, low_open=True)
        self.num_peaks = check_int(num_peaks, "num_peaks")
        _check_band(self.num_samples, self.num_peaks, self.sample_rate, self.f_min, self.f_max)
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        self.components = DeepSet(4 * self.harmonics + 2, hidden, d_model, key=key)

    def peaks(self, audio: Waveform) -> tuple[Array, Array, Array]:
        """`spectral_peaks` of the waveform (no gradient)."""
        check_example(audio, (self.num_samples,), "waveform")
        return spectral_peaks(
            jax.lax.stop_gradient(audio),
            self.num_peaks,
            sample_rate=self.sample_rate,
            f_min=self.f_min,
            f_max=self.f_max,
        )

    def __call__(self, audio: Waveform, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        frequency, magnitude, phase = self.peaks(audio)
        position = 2 * jnp.pi * (frequency - self.f_min) / (self.f_max - self.f_min)
        relative, magnitude_features = relative_amplitudes(magnitude)
        features = jnp.concatenate(
            [harmonics(position, self.harmonics), harmonics(phase, self.harmonics)]
            + [magnitude_features],
            axis=-1,
        )
        return self.components(features, relative)


def tone_features(
    tones: ToneSet, num_harmonics: int, f_min: float, f_max: float
) -> Float[Array, "n f"]:
    """Per tone: harmonics of its phase (`2 pi frac(z)` for the guide's audio) and of its
    position in the band (`2 pi frac|z|`), its log amplitude relative to the clip's mean
    tone, and relative to the noise floor (`|z|` up to the alignment's factor)."""
    amplitude = jnp.maximum(tones.amplitude, 1e-6)
    position = 2 * jnp.pi * (tones.frequency - f_min) / (f_max - f_min)
    return jnp.concatenate(
        [
            harmonics(tones.phase, num_harmonics),
            harmonics(position, num_harmonics),
            jnp.log(amplitude / jnp.mean(amplitude))[:, None],
            jnp.log(amplitude / (tones.noise + 1e-6) + 1e-3)[:, None] / 3,
        ],
        axis=-1,
    )


class ToneSetEncoder(AbstractEncoder):
    """`tone_set` -> per-tone features -> a shared MLP -> two outputs, concatenated:

    - a linear map of each tone's encoding pooled by a log-sum-exp over the tones per
      dimension (`l_d = log sum_i exp psi_d(t_i)`): against `GratingSetEncoder`'s summed
      gratings the dot product is `sum_k sum_d phi_d(g_k) l_d`, a mixture likelihood of
      the gratings given the tones;
    - sort pooling (`d_sorted`): a few channels per tone, each sorted over the tones, then
      linear. Against `GroupCountEncoder`'s sorted counts it can express the sorted
      matching of counts to tones, the mode of the text-audio set likelihood.

    The order of the tones does not matter. The tone fit has no gradient.

    ```python
    >>> import jax.random as jr
    >>> encoder = ToneSetEncoder(1000, 64, sample_rate=4000, hidden=32, key=jr.key(0))
    >>> encoder(jr.normal(jr.key(1), (1000,))).shape
    (64,)

    ```
    """

    elements: ElementMLP
    out: eqx.nn.Linear
    sort_in: eqx.nn.Linear
    sort_out: eqx.nn.Linear
    num_samples: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    sample_rate: float = eqx.field(static=True)
    f_min: float = eqx.field(static=True)
    f_max: float = eqx.field(static=True)
    num_peaks: int = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    modality: ClassVar[str] = "audio"

    def __init__(
        self,
        num_samples: int,
        d_model: int,
        *,
        sample_rate: int,
        f_min: float = 100.0,
        f_max: float = 2000.0,
        num_peaks: int = 10,
        harmonics: int = 4,
        hidden: int = 128,
        d_sorted: int | None = None,
        sort_channels: int = 4,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_samples`: the length of the waveforms.
        - `d_model`: the embedding size (at least 2).
        - `sample_rate`: keyword only. Hz.
        - `f_min`, `f_max`: keyword only. The band searched for tones (the guide's tones
            lie in 100-2000 Hz); the noise floor is measured above `f_max + 100` Hz.
        - `num_peaks`: keyword only. Tones kept (the guide's audio has 10).
        - `harmonics`: keyword only. Harmonics of each angle given to the MLP.
        - `hidden`: keyword only. Width of the per-tone MLP.
        - `d_sorted`: keyword only. Size of the sort-pooled part (default
            `max(d_model // 8, 1)`).
        - `sort_channels`: keyword only. Channels sorted over the tones.
        - `key`: keyword only. The key of the initialisation.
        """
        self.num_samples = check_int(num_samples, "num_samples", minimum=3)
        self.d_model = check_int(d_model, "d_model", minimum=2)
        self.sample_rate = float(check_int(sample_rate, "sample_rate"))
        self.f_min = check_real(f_min, "f_min", low=0.0)
        self.f_max = check_real(f_max, "f_max", low=self.f_min, low_open=True)
        self.num_peaks = check_int(num_peaks, "num_peaks")
        d_sorted = max(self.d_model // 8, 1) if d_sorted is None else d_sorted
        check_int(d_sorted, "d_sorted", maximum=self.d_model - 1)
        _check_band(self.num_samples, self.num_peaks, self.sample_rate, self.f_min, self.f_max)
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        check_int(sort_channels, "sort_channels")
        k1, k2, k3, k4 = jr.split(key, 4)
        self.elements = ElementMLP(4 * self.harmonics + 2, hidden, key=k1)
        self.out = eqx.nn.Linear(hidden, self.d_model - d_sorted, key=k2)
        self.sort_in = eqx.nn.Linear(hidden, sort_channels, key=k3)
        self.sort_out = eqx.nn.Linear(sort_channels * self.num_peaks, d_sorted, key=k4)

    def front(self, audio: Waveform) -> ToneSet:
        """`tone_set` of the waveform (no gradient)."""
        check_example(audio, (self.num_samples,), "waveform")
        return tone_set(
            audio,
            self.num_peaks,
            sample_rate=self.sample_rate,
            f_min=self.f_min,
            f_max=self.f_max,
        )

    def encode(self, tones: ToneSet) -> Embedding:
        """The embedding of a tone set (as `front` returns it)."""
        tones = jax.lax.stop_gradient(tones)
        h = self.elements(tone_features(tones, self.harmonics, self.f_min, self.f_max))
        pooled = jax.nn.logsumexp(jax.vmap(self.out)(h), axis=0)
        channels = jnp.sort(jax.vmap(self.sort_in)(h), axis=0)  # (tones, channels)
        return jnp.concatenate([pooled, self.sort_out(channels.T.reshape(-1))])

    def __call__(self, x: Waveform, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        return self.encode(self.front(x))


class CentredBagEncoder(AbstractEncoder):
    """A centred bag of tokens plus a learned constant: the mean embedding of the tokens
    minus the mean embedding of the vocabulary, a linear map without bias, then `offset`.
    The default text tower for the guide's synthetic text (i.i.d. tokens).

    The guide's text has log-likelihood `sum_j n_j a z_j - L log sum_j c_j exp(a z_j)`
    given the latent (token counts `n_j` per group), and the embedding follows its form:

    - The centred part is linear in how far the token counts are from uniform (a text
      drawn uniformly, at alignment 0, maps to about 0 before the offset): the first term.
    - `offset` is the same for every text, so its dot product with the other modality's
      latent is a score that depends only on that item: the second term. Centring
      captures that term only to first order (it subtracts `L c_j / V` from each count,
      linear in `z`); scored that way, even the true latent loses a third of its
      text -> image recall@10 (`benchmarks/text_information.py`). It starts at zero,
      so training starts from the centred tower: an earlier tower with biases at their
      usual random start mapped every text to nearly one direction (mean cosine 0.997
      after 300 steps) and its text terms stayed at chance.
    - The token embeddings start small (`embed_scale`): Adam moves every entry by about
      the learning rate a step, so embeddings drawn at scale 1 stay mostly random for
      hundreds of steps, and the embedding of a text is then a random projection of its
      1000 token counts rather than of what they say.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> encoder = CentredBagEncoder(100, 8, key=jr.key(0))
    >>> encoder(jnp.arange(5)).shape
    (8,)

    ```
    """

    embedding: Float[Array, "vocab embed"]
    linear: eqx.nn.Linear
    offset: Float[Array, " d_model"]
    d_model: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"
    head_bias: ClassVar[bool] = False  # its own learned constant

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        *,
        embed_dim: int = 128,
        embed_scale: float = 0.02,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `vocab_size`: tokens are in `[0, vocab_size)`.
        - `d_model`: the embedding size.
        - `embed_dim`: keyword only. The width of the token embedding.
        - `embed_scale`: keyword only. The standard deviation of the initial embedding.
        - `key`: keyword only. The key of the initialisation.
        """
        check_int(vocab_size, "vocab_size")
        self.d_model = check_int(d_model, "d_model")
        check_int(embed_dim, "embed_dim")
        check_real(embed_scale, "embed_scale", low=0.0, low_open=True)
        embedding_key, linear_key = jr.split(key)
        self.embedding = embed_scale * jr.normal(
            embedding_key, (vocab_size, embed_dim), dtype=jnp.float32
        )
        self.linear = eqx.nn.Linear(embed_dim, d_model, use_bias=False, key=linear_key)
        self.offset = jnp.zeros(d_model, dtype=jnp.float32)

    def centred(self, tokens: Tokens) -> Embedding:
        """The part of the embedding that depends on the text (0 for a uniform bag)."""
        centred = jnp.mean(self.embedding[tokens], axis=0) - jnp.mean(self.embedding, axis=0)
        return self.linear(centred)

    def __call__(self, tokens: Tokens, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        return self.centred(tokens) + self.offset


def group_counts(tokens: Tokens, groups: int) -> Float[Array, " groups"]:
    """How many tokens fall in each group `t % groups`."""
    return jnp.zeros(groups, jnp.float32).at[tokens % groups].add(1.0)


class GroupCountEncoder(AbstractEncoder):
    """The guide's text as token counts per group (`t % groups`: the guide's token
    logits depend on a token only through its group), then three parts, summed:

    - for the first `shown` groups (those the image and audio show), learned
      embeddings of `(group, count)` plus an embedding of the count shared by all
      groups: any function `sum_j f_j(n_j)` of the counts, nonlinear in them (the
      audio's tones are a set, so a text-audio score must be);
    - a linear map of the shown groups' counts sorted (for the sorted matching of
      counts to tones);
    - a linear map of the other groups' counts.

    Counts above `max_count` share the last embedding. The embeddings and the sorted
    map start at zero.

    ```python
    >>> import jax.numpy as jnp
    >>> import jax.random as jr
    >>> encoder = GroupCountEncoder(32, 64, key=jr.key(0))
    >>> encoder(jnp.arange(50)).shape
    (64,)

    ```
    """

    embedding: Float[Array, "shown counts d_model"]
    shared: Float[Array, "counts d_model"]
    rest: eqx.nn.Linear
    sorted: eqx.nn.Linear
    groups: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    shown: int = eqx.field(static=True)
    max_count: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"
    head_bias: ClassVar[bool] = False  # its own learned constant

    def __init__(
        self,
        groups: int,
        d_model: int,
        *,
        shown: int = 10,
        max_count: int = 11,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `groups`: the number of token groups (the guide's `latent_dim`, at most its
            vocabulary).
        - `d_model`: the embedding size.
        - `shown`: keyword only. Groups with their own count embeddings (the guide's
            audio shows 10 latents); at most `groups`.
        - `max_count`: keyword only. Counts above it share one embedding.
        - `key`: keyword only. The key of the initialisation.
        """
        self.groups = check_int(groups, "groups")
        self.d_model = check_int(d_model, "d_model")
        self.shown = check_int(shown, "shown", maximum=self.groups)
        self.max_count = check_int(max_count, "max_count")
        self.embedding = jnp.zeros((self.shown, self.max_count + 1, self.d_model), jnp.float32)
        self.shared = jnp.zeros((self.max_count + 1, self.d_model), jnp.float32)
        self.rest = eqx.nn.Linear(
            max(self.groups - self.shown, 1), self.d_model, use_bias=False, key=key
        )
        self.sorted = eqx.nn.Linear(
            self.shown, self.d_model, use_bias=False, key=jr.fold_in(key, 1)
        )
        zero = jnp.zeros_like(self.sorted.weight)
        self.sorted = eqx.tree_at(lambda m: m.weight, self.sorted, zero)

    def encode(self, counts: Float[Array, " groups"]) -> Embedding:
        """The embedding of a text's group counts."""
        shown = jnp.minimum(counts[: self.shown], self.max_count).astype(jnp.int32)
        rows = self.embedding[jnp.arange(self.shown), shown] + self.shared[shown]
        rest = counts[self.shown :] if self.groups > self.shown else jnp.zeros(1)
        ranked = jnp.sort(counts[: self.shown])
        return jnp.sum(rows, axis=0) + self.rest(rest / 10) + self.sorted(ranked / 5)

    def __call__(self, x: Tokens, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        if x.ndim != 1:
            raise ValueError(f"expected one sequence of token ids, got shape {x.shape}")
        return self.encode(group_counts(x, self.groups))

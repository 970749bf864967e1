"""Audio encoders: a generic log-mel conv net, and the guide-fitted towers (the
spectral-peak tower `PeakAudioEncoder` and the set tower `ToneSetEncoder`)."""

import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..._types import Embedding, Waveform
from ..._validation import check_int, check_real
from .._base import AbstractEncoder
from .._layers import DeepSet, ElementMLP, groups
from .._set_fits import tone_set, ToneSet
from .._signal import (
    hann_peaks,
    harmonics,
    log_spectrogram,
    num_frames,
    relative_amplitudes,
    spectral_peaks,
)
from ._checks import check_example


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


class AudioEncoder(AbstractEncoder):
    """A spectral front end computed in JAX (log STFT power, or log-mel when `n_mels` is
    set), then 1-D residual convolutions over time with the frequency bins as
    channels, mean + max pooling over time, and a projection to `d_model`.

    Accepts raw waveforms of any length (at least one frame is made).

    ```python
    >>> import jax.random as jr
    >>> encoder = AudioEncoder(64, sample_rate=4000, n_fft=256, hop_length=128, n_mels=32,
    ...                        key=jr.key(0))
    >>> encoder(jr.normal(jr.key(1), (1000,))).shape
    (64,)

    ```
    """

    input_proj: eqx.nn.Conv1d
    convs: tuple[eqx.nn.Conv1d, ...]
    norms: tuple[eqx.nn.GroupNorm, ...]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    sample_rate: int = eqx.field(static=True)
    n_fft: int = eqx.field(static=True)
    hop_length: int = eqx.field(static=True)
    n_mels: int | None = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    modality: ClassVar[str] = "audio"

    def __init__(
        self,
        d_model: int,
        *,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 256,
        n_mels: int | None = 64,
        channels: int = 64,
        num_layers: int = 2,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_model`: the embedding size.
        - `sample_rate`: keyword only. Hz, used by the mel filter bank.
        - `n_fft`, `hop_length`: keyword only. STFT frame length and step.
        - `n_mels`: keyword only. Mel bands, or `None` for the linear-frequency power.
        - `channels`, `num_layers`: keyword only. Width and depth of the conv stack.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_model = check_int(d_model, "d_model")
        self.sample_rate = check_int(sample_rate, "sample_rate")
        self.n_fft = check_int(n_fft, "n_fft", minimum=2)
        self.hop_length = check_int(hop_length, "hop_length")
        self.n_mels = None if n_mels is None else check_int(n_mels, "n_mels")
        check_int(channels, "channels")
        check_int(num_layers, "num_layers", minimum=0)
        bins = self.n_fft // 2 + 1 if self.n_mels is None else self.n_mels
        input_key, head_key, *conv_keys = jr.split(key, 2 + num_layers)
        self.input_proj = eqx.nn.Conv1d(bins, channels, 1, key=input_key)
        self.convs = tuple(
            eqx.nn.Conv1d(channels, channels, 3, padding=1, key=k) for k in conv_keys
        )
        self.norms = tuple(eqx.nn.GroupNorm(groups(channels), channels) for _ in conv_keys)
        self.norm = eqx.nn.LayerNorm(2 * channels)
        self.head = eqx.nn.Linear(2 * channels, d_model, key=head_key)

    def features(self, audio: Waveform) -> Float[Array, "frames bins"]:
        """The log spectrogram the conv stack sees."""
        return log_spectrogram(
            audio,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            sample_rate=self.sample_rate,
        )

    def __call__(self, audio: Waveform, *, key: PRNGKeyArray | None = None) -> Embedding:
        """**Arguments:**

        - `audio`: one waveform.
        - `key`: ignored (deterministic); accepted for a uniform encoder interface.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        del key
        assert num_frames(audio.shape[0], self.n_fft, self.hop_length) >= 1
        x = self.input_proj(self.features(audio).T)  # (channels, frames)
        for conv, norm in zip(self.convs, self.norms):
            x = x + conv(jax.nn.gelu(norm(x)))
        pooled = jnp.concatenate([jnp.mean(x, axis=1), jnp.max(x, axis=1)])
        return self.head(self.norm(pooled))


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

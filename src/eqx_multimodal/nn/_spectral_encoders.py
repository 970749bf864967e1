"""Encoders with generic Fourier front ends for periodic signals: the shared-latent
model's previous default towers (now `GratingImageEncoder` and `PeakAudioEncoder`, which
fit the signal family first and learn far faster; see README).

The synthetic images are sums of separable gratings and the synthetic audio is a sum
of stationary tones, so both towers start from a Fourier transform rather than from
pixels or samples:

- `FourierImageEncoder` projects the image onto a separable bank of sine and cosine
  gratings (a grid of frequencies in x times the same grid in y: no frequency is
  assumed), mixes the projections into a set of learned "components", encodes each
  component with one shared MLP (a DeepSets layer, so any number of components is
  summarised in any order), pools them weighted by their energy, and keeps an indexed
  head beside the pooled one.
- `SpectrumAudioEncoder` takes the magnitude spectrum of the whole clip (one Hann
  window: the tones are stationary), max-pools it into bins over a frequency band,
  normalises it to a distribution and applies an MLP.
"""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._types import Embedding, Image, Waveform
from .._validation import check_int, check_real, check_shape
from ._spectral import hann_window


def grating_bank(size: int, frequencies: np.ndarray) -> np.ndarray:
    """`sin` and `cos` of each frequency (rad per unit) on `linspace(-1, 1, size)`."""
    x = np.linspace(-1.0, 1.0, size)
    bank = np.concatenate([np.sin(frequencies[:, None] * x), np.cos(frequencies[:, None] * x)])
    return (bank / np.sqrt(size)).astype(np.float32)


class FourierImageEncoder(eqx.Module):
    """Separable grating projections -> learned components -> shared MLP -> pooled.

    ```python
    >>> import jax.random as jr
    >>> encoder = FourierImageEncoder((32, 32, 3), 64, key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (32, 32, 3))).shape
    (64,)

    ```
    """

    bank_y: Float[Array, "fy height"]
    bank_x: Float[Array, "fx width"]
    mix: eqx.nn.Linear
    component_in: eqx.nn.Linear
    component_hidden: eqx.nn.Linear
    pooled_head: eqx.nn.Linear
    indexed_head: eqx.nn.Linear
    num_components: int = eqx.field(static=True)
    image_shape: tuple[int, int, int] = eqx.field(static=True)

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        num_frequencies: int = 24,
        max_frequency: float = 12.0,
        num_components: int = 16,
        hidden: int = 128,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)`; channels are averaged.
        - `d_model`: the embedding size.
        - `num_frequencies`: keyword only. Gratings a direction, evenly spaced in
            `[max_frequency / num_frequencies, max_frequency]` rad per unit (the image
            spans [-1, 1]).
        - `max_frequency`: keyword only.
        - `num_components`: keyword only. Learned components mixed from the projections.
        - `hidden`: keyword only. Width of the component MLP.
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        check_int(d_model, "d_model")
        check_int(num_frequencies, "num_frequencies")
        check_real(max_frequency, "max_frequency", low=0.0, low_open=True)
        self.num_components = check_int(num_components, "num_components")
        check_int(hidden, "hidden")
        height, width, _ = self.image_shape
        frequencies = np.linspace(max_frequency / num_frequencies, max_frequency, num_frequencies)
        self.bank_y = jnp.asarray(grating_bank(height, frequencies))
        self.bank_x = jnp.asarray(grating_bank(width, frequencies))
        mix_key, in_key, hidden_key, pooled_key, indexed_key = jr.split(key, 5)
        features = (2 * num_frequencies) ** 2
        self.mix = eqx.nn.Linear(features, 4 * num_components, key=mix_key)
        self.component_in = eqx.nn.Linear(5, hidden, key=in_key)
        self.component_hidden = eqx.nn.Linear(hidden, hidden, key=hidden_key)
        self.pooled_head = eqx.nn.Linear(hidden, d_model, key=pooled_key)
        self.indexed_head = eqx.nn.Linear(4 * num_components, d_model, key=indexed_key)

    def projections(self, image: Image) -> Float[Array, "fy fx"]:
        """The image (channel mean, centred) projected on every separable grating."""
        gray = jnp.mean(image, axis=-1)
        gray = gray - jnp.mean(gray)
        return self.bank_y @ gray @ self.bank_x.T

    def __call__(self, image: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        components = self.mix(self.projections(image).reshape(-1))
        components = components.reshape(self.num_components, 4)
        energy = jnp.sqrt(jnp.sum(components**2, axis=-1, keepdims=True) + 1e-6)
        unit = jnp.concatenate([components / energy, jnp.log(energy)], axis=-1)
        h = jax.nn.gelu(jax.vmap(self.component_in)(unit))
        h = jax.nn.gelu(jax.vmap(self.component_hidden)(h))
        pooled = jnp.sum(h * energy, axis=0) / jnp.sum(energy)
        relative = components / jnp.sum(energy)
        return self.pooled_head(pooled) + self.indexed_head(relative.reshape(-1))


class SpectrumAudioEncoder(eqx.Module):
    """Magnitude spectrum of the whole clip over a band, max-pooled, then an MLP.

    ```python
    >>> import jax.random as jr
    >>> encoder = SpectrumAudioEncoder(16000, 64, sample_rate=16000, key=jr.key(0))
    >>> encoder(jr.normal(jr.key(1), (16000,))).shape
    (64,)

    ```
    """

    first: eqx.nn.Linear
    second: eqx.nn.Linear
    num_samples: int = eqx.field(static=True)
    start: int = eqx.field(static=True)
    pool: int = eqx.field(static=True)
    num_bins: int = eqx.field(static=True)

    def __init__(
        self,
        num_samples: int,
        d_model: int,
        *,
        sample_rate: int,
        f_min: float = 100.0,
        f_max: float = 2000.0,
        num_bins: int = 256,
        hidden: int = 512,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_samples`: the length of the waveforms.
        - `d_model`: the embedding size.
        - `sample_rate`: keyword only. Hz.
        - `f_min`, `f_max`: keyword only. The band kept (the guide's tones lie in
            100-2000 Hz), clipped to the Nyquist frequency.
        - `num_bins`: keyword only. Bins the band is max-pooled into (at most one per
            FFT bin).
        - `hidden`: keyword only. Width of the MLP.
        - `key`: keyword only. The key of the initialisation.
        """
        self.num_samples = check_int(num_samples, "num_samples")
        check_int(d_model, "d_model")
        sample_rate = check_int(sample_rate, "sample_rate")
        f_min = check_real(f_min, "f_min", low=0.0)
        f_max = check_real(f_max, "f_max", low=f_min, low_open=True)
        check_int(num_bins, "num_bins")
        check_int(hidden, "hidden")
        resolution = sample_rate / self.num_samples  # Hz an FFT bin
        last = self.num_samples // 2 + 1
        self.start = min(int(f_min / resolution), last - 1)
        stop = min(max(int(np.ceil(f_max / resolution)), self.start + 1), last)
        self.pool = max(1, (stop - self.start) // num_bins)
        self.num_bins = max(1, (stop - self.start) // self.pool)
        first_key, second_key = jr.split(key)
        self.first = eqx.nn.Linear(self.num_bins, hidden, key=first_key)
        self.second = eqx.nn.Linear(hidden, d_model, key=second_key)

    def spectrum(self, audio: Waveform) -> Float[Array, " bins"]:
        """The band's magnitude spectrum, max-pooled and normalised to sum to one."""
        window = jnp.asarray(hann_window(self.num_samples))
        magnitude = jnp.abs(jnp.fft.rfft(audio * window))
        band = magnitude[self.start : self.start + self.num_bins * self.pool]
        pooled = jnp.max(band.reshape(self.num_bins, self.pool), axis=-1)
        return pooled / (jnp.sum(pooled) + 1e-6)

    def __call__(self, audio: Waveform, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        if audio.shape != (self.num_samples,):
            raise ValueError(
                f"expected a waveform of {self.num_samples} samples, got {audio.shape}"
            )
        spectrum = jnp.log(1e-4 + self.spectrum(audio))
        spectrum = (spectrum - jnp.mean(spectrum)) / (jnp.std(spectrum) + 1e-6)
        return self.second(jax.nn.gelu(self.first(spectrum)))

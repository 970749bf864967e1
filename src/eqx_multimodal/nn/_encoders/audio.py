"""Audio encoders: a generic log-mel conv net (the guide's spectral-peak and tone-set
towers are in `eqx_multimodal.guide.towers`)."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..._types import Embedding, Waveform
from ..._validation import check_int
from .._base import AbstractEncoder
from .._layers import groups
from .._signal import (
    log_spectrogram,
    num_frames,
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

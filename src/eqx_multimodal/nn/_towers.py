"""Which encoder and decoder a model gets for each modality: chosen here, and only here.

Three families:

- `"generic"`: towers for any data of the modality: a residual conv net
  (`ImageEncoder`), a transformer over token ids (`TextEncoder`) and a log-mel conv net
  (`AudioEncoder`), with MLP decoders and an autoregressive text decoder. The default
  for your own data.
- `"guide"`: towers fitted to the guide's synthetic signals: gratings fitted by least
  squares (`GratingImageEncoder`), a centred bag of i.i.d. tokens (`CentredBagEncoder`),
  spectral peaks (`PeakAudioEncoder`), and a bag-of-tokens decoder.
- `"sets"`: set-likelihood towers for the guide's synthetic signals: a joint grating fit
  with its uncertainties and sign posterior (`GratingSetEncoder`), the audio's tone set
  pooled by a log-sum-exp (`ToneSetEncoder`), and token counts per group
  (`GroupCountEncoder`), built so that the dot product of two latents has the form of
  a set likelihood (see `docs/default_model.md`). Decoders as `"guide"`. Latents are not
  normalised (`SharedLatentModel.normalized`). The default for the built-in synthetic
  data.
"""

from typing import Any

from jaxtyping import PRNGKeyArray

from .._validation import check_choice, check_int
from ..data import as_spec, DataSpec, SyntheticConfig
from ._base import AbstractDecoder, AbstractEncoder
from ._decoders import AudioDecoder, ImageDecoder, TextDecoder, TokenBagDecoder
from ._encoders import (
    AudioEncoder,
    CentredBagEncoder,
    GratingImageEncoder,
    GratingSetEncoder,
    GroupCountEncoder,
    ImageEncoder,
    PeakAudioEncoder,
    TextEncoder,
    ToneSetEncoder,
)


TOWERS = ("generic", "guide", "sets")
#: The width of the generic text transformer.
TEXT_WIDTH = 64
MODALITY_NAMES = ("image", "text", "audio")


def default_towers(data: Any) -> str:
    """`"sets"` for the built-in synthetic data (a `SyntheticConfig`), `"generic"` for
    anything else."""
    return "sets" if isinstance(data, SyntheticConfig) else "generic"


def _required(spec: DataSpec, modality: str) -> None:
    if modality not in spec.modalities:
        raise ValueError(
            f"`modality` {modality!r} is not in the data, which has {list(spec.modalities)}"
        )


def make_encoder(
    modality: str,
    data: Any,
    d_model: int,
    *,
    towers: str = "generic",
    key: PRNGKeyArray,
) -> AbstractEncoder:
    """The encoder of `modality` for data shaped like `data`.

    **Arguments:**

    - `modality`: `"image"`, `"text"` or `"audio"`.
    - `data`: a `DataSpec`, or anything with a `spec` (`SyntheticConfig`,
        `PairedDataset`, `PairedFolder`).
    - `d_model`: the embedding size.
    - `towers`: keyword only. `"generic"`, `"guide"` or `"sets"` (see this module).
        The text tower of `"sets"` needs the guide's `latent_dim`: `data` must then
        be a `SyntheticConfig`.
    - `key`: keyword only. The key of the initialisation.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig
    >>> type(make_encoder("audio", SyntheticConfig(), 32, towers="guide", key=jr.key(0))).__name__
    'PeakAudioEncoder'

    ```
    """
    check_choice(modality, "modality", MODALITY_NAMES)
    check_choice(towers, "towers", TOWERS)
    check_int(d_model, "d_model")
    spec = as_spec(data)
    _required(spec, modality)
    if towers == "sets":
        return _set_encoder(modality, data, spec, d_model, key=key)
    if modality == "image":
        assert spec.image_shape is not None
        if towers == "guide":
            return GratingImageEncoder(spec.image_shape, d_model, key=key)
        return ImageEncoder(spec.image_shape, d_model, key=key)
    if modality == "text":
        assert spec.vocab_size is not None and spec.seq_length is not None
        if towers == "guide":
            return CentredBagEncoder(spec.vocab_size, d_model, key=key)
        # A narrow transformer: captions are short, and its width is its cost (width
        # 256 made a step 6x slower than width 64 for the same retrieval).
        return TextEncoder(
            spec.vocab_size,
            d_model,
            spec.seq_length,
            width=TEXT_WIDTH,
            num_heads=4,
            pad_id=spec.pad_id,
            key=key,
        )
    assert spec.num_audio_samples is not None and spec.sample_rate is not None
    if towers == "guide":
        return PeakAudioEncoder(
            spec.num_audio_samples,
            d_model,
            sample_rate=spec.sample_rate,
            f_max=min(2000.0, spec.sample_rate / 2),
            key=key,
        )
    n_fft = min(512, max(2, spec.num_audio_samples))
    return AudioEncoder(
        d_model,
        sample_rate=spec.sample_rate,
        n_fft=n_fft,
        hop_length=max(1, n_fft // 2),
        n_mels=min(64, n_fft // 2 + 1),
        key=key,
    )


def _set_encoder(
    modality: str, data: Any, spec: DataSpec, d_model: int, *, key: PRNGKeyArray
) -> AbstractEncoder:
    if modality == "image":
        assert spec.image_shape is not None
        return GratingSetEncoder(spec.image_shape, d_model, key=key)
    if modality == "audio":
        assert spec.num_audio_samples is not None and spec.sample_rate is not None
        return ToneSetEncoder(
            spec.num_audio_samples,
            d_model,
            sample_rate=spec.sample_rate,
            f_max=min(2000.0, spec.sample_rate / 2),
            key=key,
        )
    if not isinstance(data, SyntheticConfig):
        raise ValueError(
            "`towers='sets'` reads text as the guide's token groups, which needs the "
            f"guide's data (a SyntheticConfig), got {type(data).__name__}; use "
            "towers='generic' for your own captions"
        )
    assert spec.vocab_size is not None
    groups = min(spec.vocab_size, data.latent_dim)
    return GroupCountEncoder(groups, d_model, shown=min(10, groups), key=key)


def make_decoder(
    modality: str,
    data: Any,
    d_in: int,
    *,
    towers: str = "generic",
    key: PRNGKeyArray,
) -> AbstractDecoder:
    """The decoder of `modality`, from a `(d_in,)` condition, for data shaped like `data`.

    Arguments as for `make_encoder`. The guide's decoders are small (the synthetic
    signals are simple) and its text decoder is a bag of tokens (its tokens are i.i.d.);
    the generic text decoder is autoregressive.
    """
    check_choice(modality, "modality", MODALITY_NAMES)
    check_choice(towers, "towers", TOWERS)
    check_int(d_in, "d_in")
    spec = as_spec(data)
    _required(spec, modality)
    if modality == "image":
        assert spec.image_shape is not None
        hidden = 256 if towers != "generic" else max(256, 4 * d_in)
        return ImageDecoder(d_in, spec.image_shape, hidden=hidden, key=key)
    if modality == "text":
        assert spec.vocab_size is not None and spec.seq_length is not None
        if towers != "generic":
            return TokenBagDecoder(d_in, spec.vocab_size, spec.seq_length, key=key)
        width = max(4, d_in - d_in % 4)
        return TextDecoder(
            d_in, spec.vocab_size, spec.seq_length, width=width, num_heads=4, key=key
        )
    assert spec.num_audio_samples is not None
    hidden = 128 if towers != "generic" else max(256, 4 * d_in)
    return AudioDecoder(d_in, spec.num_audio_samples, hidden=hidden, key=key)

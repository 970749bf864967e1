"""Which encoder and decoder a model gets for each modality: chosen here, and only here.

Three families:

- `"generic"`: the default towers of each registered modality (`Modality.encoder` and
  `Modality.decoder`, see `eqx_multimodal.modalities`): for the built-ins a residual
  conv net (`ImageEncoder`), a transformer over token ids (`TextEncoder`) and a log-mel
  conv net (`AudioEncoder`), with MLP decoders and an autoregressive text decoder; for a
  modality of yours, the factories you registered. The default for your own data.
- `"guide"`: towers fitted to the guide's synthetic signals: gratings fitted by least
  squares (`GratingImageEncoder`), a centred bag of i.i.d. tokens (`CentredBagEncoder`),
  spectral peaks (`PeakAudioEncoder`), and a bag-of-tokens decoder.
- `"sets"`: set-likelihood towers for the guide's synthetic signals: a joint grating fit
  with its uncertainties and sign posterior (`GratingSetEncoder`), the audio's tone set
  pooled by a log-sum-exp (`ToneSetEncoder`), and token counts per group
  (`GroupCountEncoder`), built so that the dot product of two latents has the form of
  a set likelihood (see `docs/default_model.md`). Decoders as `"guide"`, except the
  image's: a set of candidate gratings with a draw of which grating takes which
  (`GratingSetDecoder`), since a clip gives its gratings' latents as an unordered set of
  tones. Latents are not normalised (`SharedLatentModel.normalized`). The default for
  the built-in synthetic data.
"""

from typing import Any

from jaxtyping import PRNGKeyArray

from .._validation import check_choice, check_int
from ..data import as_spec, DataSpec, SyntheticConfig
from ..modalities import get_modality
from ._base import AbstractDecoder, AbstractEncoder
from ._decoders import AudioDecoder, ImageDecoder, TokenBagDecoder
from ._encoders import (
    CentredBagEncoder,
    GratingImageEncoder,
    GratingSetEncoder,
    GroupCountEncoder,
    PeakAudioEncoder,
    ToneSetEncoder,
)
from ._set_decoder import GratingSetDecoder


TOWERS = ("generic", "guide", "sets")
#: The modalities the guide's towers (`"guide"`, `"sets"`) are fitted to.
MODALITY_NAMES = ("image", "text", "audio")


def default_towers(data: Any) -> str:
    """`"sets"` for the built-in synthetic data (a `SyntheticConfig` of the guide's
    modalities), `"generic"` for anything else (your data, or synthetic data with a
    modality of yours)."""
    guide_only = isinstance(data, SyntheticConfig) and set(data.modalities) <= set(MODALITY_NAMES)
    return "sets" if guide_only else "generic"


def _required(spec: DataSpec, modality: str, towers: str) -> None:
    get_modality(modality)  # unknown: a one-line error listing the registered ones
    if towers != "generic" and modality not in MODALITY_NAMES:
        raise ValueError(
            f"`towers` {towers!r} are fitted to the guide's {list(MODALITY_NAMES)}; modality "
            f"{modality!r} has only its registered towers: use towers='generic'"
        )
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

    - `modality`: a registered modality (`"image"`, `"text"`, `"audio"`, or yours).
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
    check_choice(towers, "towers", TOWERS)
    check_int(d_model, "d_model")
    spec = as_spec(data)
    _required(spec, modality, towers)
    if towers == "sets":
        return _set_encoder(modality, data, spec, d_model, key=key)
    if towers == "guide":
        return _guide_encoder(modality, spec, d_model, key=key)
    factory = get_modality(modality).encoder
    if factory is None:
        raise ValueError(
            f"modality {modality!r} has no encoder factory; register it with "
            "Modality(..., encoder=...)"
        )
    return check_encoder(factory(spec, d_model, key=key), modality, d_model)


def check_encoder(encoder: Any, modality: str, d_model: int) -> AbstractEncoder:
    """`encoder`, if it is an `AbstractEncoder` of width `d_model`; else a one-line
    error naming the modality (its output is checked again when it runs:
    `SharedLatentModel.embed`)."""
    if not isinstance(encoder, AbstractEncoder):
        raise TypeError(
            f"the encoder factory of modality {modality!r} must return an AbstractEncoder, "
            f"got {type(encoder).__name__}"
        )
    width = getattr(encoder, "d_model", None)
    if width != d_model:
        raise ValueError(
            f"the encoder of modality {modality!r} ({type(encoder).__name__}) has width "
            f"{width}, not d_model {d_model}"
        )
    return encoder


def _guide_encoder(
    modality: str, spec: DataSpec, d_model: int, *, key: PRNGKeyArray
) -> AbstractEncoder:
    if modality == "image":
        assert spec.image_shape is not None
        return GratingImageEncoder(spec.image_shape, d_model, key=key)
    if modality == "text":
        assert spec.vocab_size is not None
        return CentredBagEncoder(spec.vocab_size, d_model, key=key)
    if modality == "audio":
        assert spec.num_audio_samples is not None and spec.sample_rate is not None
        return PeakAudioEncoder(
            spec.num_audio_samples,
            d_model,
            sample_rate=spec.sample_rate,
            f_max=min(2000.0, spec.sample_rate / 2),
            key=key,
        )
    raise AssertionError(modality)  # `_required` refused it


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
    assert modality == "text"  # `_required` refused the others
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
    the generic ones are each modality's registered `Modality.decoder` (the built-in
    text decoder is autoregressive).
    """
    check_choice(towers, "towers", TOWERS)
    check_int(d_in, "d_in")
    spec = as_spec(data)
    _required(spec, modality, towers)
    if towers == "generic":
        factory = get_modality(modality).decoder
        if factory is None:
            raise ValueError(
                f"modality {modality!r} has no decoder factory; register it with "
                "Modality(..., decoder=...)"
            )
        decoder = factory(spec, d_in, key=key)
        if not isinstance(decoder, AbstractDecoder):
            raise TypeError(
                f"the decoder factory of modality {modality!r} must return an "
                f"AbstractDecoder, got {type(decoder).__name__}"
            )
        return decoder
    if modality == "image":
        assert spec.image_shape is not None
        if towers == "sets":
            return GratingSetDecoder(d_in, spec.image_shape, key=key)
        return ImageDecoder(d_in, spec.image_shape, hidden=256, key=key)
    if modality == "text":
        assert spec.vocab_size is not None and spec.seq_length is not None
        return TokenBagDecoder(d_in, spec.vocab_size, spec.seq_length, key=key)
    assert modality == "audio" and spec.num_audio_samples is not None  # `_required`
    return AudioDecoder(d_in, spec.num_audio_samples, hidden=128, key=key)

"""The guide's two tower families, registered through the core's door
(`nn.register_towers`); the core's registry loads this package on the first lookup of
a family.

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
  tones. Latents are not normalised. The default for the built-in synthetic data
  (`SyntheticConfig.default_towers`).
"""

from typing import Any

from jaxtyping import PRNGKeyArray

from ...data import as_spec
from ...nn import (
    AbstractDecoder,
    AbstractEncoder,
    AudioDecoder,
    ImageDecoder,
    register_towers,
    TokenBagDecoder,
    TowerFamily,
)
from .._synthetic_config import GUIDE_MODALITIES, SyntheticConfig
from ._encoders import (
    CentredBagEncoder,
    GratingImageEncoder,
    GratingSetEncoder,
    GroupCountEncoder,
    PeakAudioEncoder,
    ToneSetEncoder,
)
from ._set_decoder import GratingSetDecoder


def _audio_sizes(data: Any) -> tuple[int, int, float]:
    spec = as_spec(data)
    assert spec.num_audio_samples is not None and spec.sample_rate is not None
    return spec.num_audio_samples, spec.sample_rate, min(2000.0, spec.sample_rate / 2)


def _guide_encoder(modality: str, data: Any, d_model: int, *, key: PRNGKeyArray) -> AbstractEncoder:
    spec = as_spec(data)
    if modality == "image":
        assert spec.image_shape is not None
        return GratingImageEncoder(spec.image_shape, d_model, key=key)
    if modality == "text":
        assert spec.vocab_size is not None
        return CentredBagEncoder(spec.vocab_size, d_model, key=key)
    samples, rate, f_max = _audio_sizes(data)  # audio: the family serves only these three
    return PeakAudioEncoder(samples, d_model, sample_rate=rate, f_max=f_max, key=key)


def _set_encoder(modality: str, data: Any, d_model: int, *, key: PRNGKeyArray) -> AbstractEncoder:
    spec = as_spec(data)
    if modality == "image":
        assert spec.image_shape is not None
        return GratingSetEncoder(spec.image_shape, d_model, key=key)
    if modality == "audio":
        samples, rate, f_max = _audio_sizes(data)
        return ToneSetEncoder(samples, d_model, sample_rate=rate, f_max=f_max, key=key)
    if not isinstance(data, SyntheticConfig):
        raise ValueError(
            "`towers='sets'` reads text as the guide's token groups, which needs the "
            f"guide's data (a SyntheticConfig), got {type(data).__name__}; use "
            "towers='generic' for your own captions"
        )
    assert spec.vocab_size is not None
    groups = min(spec.vocab_size, data.latent_dim)
    return GroupCountEncoder(groups, d_model, shown=min(10, groups), key=key)


def _decoder(sets: bool):
    def make(modality: str, data: Any, d_in: int, *, key: PRNGKeyArray) -> AbstractDecoder:
        spec = as_spec(data)
        if modality == "image":
            assert spec.image_shape is not None
            if sets:
                return GratingSetDecoder(d_in, spec.image_shape, key=key)
            return ImageDecoder(d_in, spec.image_shape, hidden=256, key=key)
        if modality == "text":
            assert spec.vocab_size is not None and spec.seq_length is not None
            return TokenBagDecoder(d_in, spec.vocab_size, spec.seq_length, key=key)
        assert spec.num_audio_samples is not None
        return AudioDecoder(d_in, spec.num_audio_samples, hidden=128, key=key)

    return make


def _check_sets(config: Any) -> None:
    """The runs the `"sets"` towers cannot serve: text of your own (they read the guide's
    token groups), and the generators' image cycle (their image decoder's training
    output is a set of gratings, not pixels)."""
    if not config.synthetic and "text" in config.spec.modalities:
        raise ValueError(
            "`towers` 'sets' reads text as the guide's token groups: it needs the guide's "
            "synthetic data, not a dataset of your own; use 'generic'"
        )
    generation = config.generation
    if generation is not None and generation.cycle > 0 and "image" in config.spec.modalities:
        raise ValueError(
            f"`generation.cycle` {generation.cycle:g} needs an image decoder that "
            "makes pixels in training; the sets towers' (guide.towers.GratingSetDecoder) predicts "
            "a set of gratings: use towers 'guide' or 'generic', or cycle 0"
        )


def _set_reranker(modalities: tuple[str, ...]) -> Any:
    """The verifier of image <-> audio retrieval (`guide.SetReranker`), for runs with
    both; else None."""
    from .._rerank import SetReranker  # it reads these towers: imported once they are

    return SetReranker() if {"image", "audio"} <= set(modalities) else None


GUIDE = register_towers(
    TowerFamily(
        "guide", encoder=_guide_encoder, decoder=_decoder(False), modalities=GUIDE_MODALITIES
    )
)
SETS = register_towers(
    TowerFamily(
        "sets",
        encoder=_set_encoder,
        decoder=_decoder(True),
        modalities=GUIDE_MODALITIES,
        normalized=False,
        check=_check_sets,
        reranker=_set_reranker,
    )
)

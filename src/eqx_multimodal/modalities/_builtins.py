"""The built-in modalities, image, text and audio: three registrations through the public
`register_modality`, loaded on the registry's first lookup (as a plug-in would be).

Their folders keep them in the formats of `eqx_multimodal.data`, attached as each
one's `storage` (as a modality of yours may pick them): `PNGImages`, `WavClips` (one rate
a folder) and `JsonLines` (`text.jsonl`), each with the facts and transforms of
`PairedFolder`'s arguments (`image_shape` and resizing; `sample_rate`, resampling and
cropping; a tokenizer). The image's `read` and `write` are its plain PNG codec; audio
and text have none. The guide's
synthetic data renders them by its own formulas (`eqx_multimodal.guide`), so they
register no `render`.
"""

from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import PRNGKeyArray

from ..data._codecs import IMAGE_SCALE, quantise_image, read_image, write_image
from ..data._formats import JsonLines, PNGImages, WavClips
from ..losses._reconstruction import pixel_loss, token_cross_entropy, waveform_loss
from ..nn._base import AbstractDecoder, AbstractEncoder
from ..nn._decoders import AudioDecoder, ImageDecoder, SpectrogramDecoder, TextDecoder
from ..nn._encoders import AudioEncoder, ImageEncoder, TextEncoder
from ._modality import Modality, SpecFields
from ._registry import register_modality


#: The width of the generic text transformer: captions are short, and its width is its
#: cost (width 256 made a step 6x slower than width 64 for the same retrieval).
TEXT_WIDTH = 64


def _read_image(path: Path, where: str) -> np.ndarray:
    return read_image(path, where).astype(np.float32) / np.float32(IMAGE_SCALE)


def _write_image(path: Path, item: np.ndarray) -> None:
    write_image(path, quantise_image(item))


def image_encoder(spec: Any, d_model: int, *, key: PRNGKeyArray) -> AbstractEncoder:
    """A residual conv net (`ImageEncoder`) for images of `spec.image_shape`."""
    return ImageEncoder(spec.image_shape, d_model, key=key)


def image_decoder(spec: Any, d_in: int, *, key: PRNGKeyArray) -> AbstractDecoder:
    """An MLP decoder (`ImageDecoder`) to images of `spec.image_shape`."""
    return ImageDecoder(d_in, spec.image_shape, hidden=max(256, 4 * d_in), key=key)


def text_encoder(spec: Any, d_model: int, *, key: PRNGKeyArray) -> AbstractEncoder:
    """A narrow transformer over token ids (`TextEncoder`)."""
    return TextEncoder(
        spec.vocab_size,
        d_model,
        spec.seq_length,
        width=TEXT_WIDTH,
        num_heads=4,
        pad_id=spec.pad_id,
        key=key,
    )


def text_decoder(spec: Any, d_in: int, *, key: PRNGKeyArray) -> AbstractDecoder:
    """An autoregressive transformer decoder (`TextDecoder`)."""
    width = max(4, d_in - d_in % 4)
    return TextDecoder(d_in, spec.vocab_size, spec.seq_length, width=width, num_heads=4, key=key)


def audio_encoder(spec: Any, d_model: int, *, key: PRNGKeyArray) -> AbstractEncoder:
    """A log-mel conv net (`AudioEncoder`) for clips at `spec.sample_rate`."""
    n_fft = min(512, max(2, spec.num_audio_samples))
    return AudioEncoder(
        d_model,
        sample_rate=spec.sample_rate,
        n_fft=n_fft,
        hop_length=max(1, n_fft // 2),
        n_mels=min(64, n_fft // 2 + 1),
        key=key,
    )


def audio_decoder(spec: Any, d_in: int, *, key: PRNGKeyArray) -> AbstractDecoder:
    """An MLP decoder (`AudioDecoder`) to clips of `spec.num_audio_samples`."""
    return AudioDecoder(d_in, spec.num_audio_samples, hidden=max(256, 4 * d_in), key=key)


def audio_generator(spec: Any, d_in: int, *, key: PRNGKeyArray) -> AbstractDecoder:
    """A log-magnitude spectrogram with Griffin-Lim phases (`SpectrogramDecoder`): what
    a generator makes clips of `spec.num_audio_samples` with."""
    samples = spec.num_audio_samples
    n_fft = max(min(512, 1 << (samples.bit_length() - 1)), 4)
    return SpectrogramDecoder(d_in, samples, n_fft=n_fft, hop_length=max(1, n_fft // 4), key=key)


def draw_image(ax: Any, item: np.ndarray) -> None:
    """The image, grey when it has neither 3 nor 4 channels."""
    image = np.clip(np.asarray(item, np.float64), 0.0, 1.0)
    if image.shape[-1] not in (3, 4):
        image = image.mean(axis=-1)
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")


def draw_text(ax: Any, item: np.ndarray) -> None:
    """The token ids, as text."""
    shown = " ".join(str(int(t)) for t in np.asarray(item)[:40])
    ax.text(0.02, 0.5, shown, fontsize=6, wrap=True, va="center", transform=ax.transAxes)


def draw_audio(ax: Any, item: np.ndarray) -> None:
    """The waveform."""
    ax.plot(np.asarray(item), linewidth=0.6)


IMAGE = register_modality(
    Modality(
        "image",
        shape=(None, None, None),
        suffix=".png",
        read=_read_image,
        write=_write_image,
        encoder=image_encoder,
        decoder=image_decoder,
        draw=draw_image,
        loss=pixel_loss,
        spec_fields=SpecFields("image_shape"),
        storage=PNGImages(spec_fields=True),
    )
)
TEXT = register_modality(
    Modality(
        "text",
        shape=(None,),
        dtype="int32",
        encoder=text_encoder,
        decoder=text_decoder,
        draw=draw_text,
        loss=token_cross_entropy,
        spec_fields=SpecFields(
            "seq_length", length=True, required=("vocab_size",), optional=("pad_id",)
        ),
        storage=JsonLines("text.jsonl", spec_fields=True),
    )
)
AUDIO = register_modality(
    Modality(
        "audio",
        shape=(None,),
        suffix=".wav",  # read and written at the folder's rate, by its storage
        encoder=audio_encoder,
        decoder=audio_decoder,
        generate=audio_generator,
        draw=draw_audio,
        loss=waveform_loss,
        spec_fields=SpecFields("num_audio_samples", length=True, required=("sample_rate",)),
        storage=WavClips(),
    )
)

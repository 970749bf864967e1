"""Cross-modal generators: any encoder composed with any decoder, every direction."""

from typing import Any

import equinox as eqx
import jax.random as jr
from jaxtyping import Array, PRNGKeyArray

from .._validation import check_choice, check_int
from ..modalities import registered_modalities
from ._base import AbstractDecoder, AbstractEncoder
from ._towers import make_decoder, make_encoder


class CrossModalGenerator(eqx.Module):
    """Generate one modality from another: an encoder composed with a decoder.

    Every direction (text -> image, image -> text, text -> audio, audio -> image, ...)
    is this one class with different parts; see `make_generator`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.nn import ImageDecoder, TokenBagEncoder
    >>> generator = CrossModalGenerator(
    ...     TokenBagEncoder(100, 16, 32, key=jr.key(0)),
    ...     ImageDecoder(32, (8, 8, 3), hidden=64, key=jr.key(1)),
    ... )
    >>> generator(jnp.arange(5)).shape, generator.target_modality
    ((8, 8, 3), 'image')

    ```
    """

    encoder: AbstractEncoder
    decoder: AbstractDecoder

    def __check_init__(self):
        if self.encoder.d_model != self.decoder.d_in:
            raise ValueError(
                f"the encoder's output ({self.encoder.d_model}) must be the decoder's input "
                f"({self.decoder.d_in})"
            )

    def __call__(
        self, source: Array, *, key: PRNGKeyArray | None = None, greedy: bool = False
    ) -> Array:
        """Encode `source` (one example) and decode the target modality.

        **Arguments:**

        - `source`: one example of the encoder's modality.
        - `key`: keyword only. The text decoder samples with it; image and audio
            decoders are deterministic and ignore it.
        - `greedy`: keyword only. Decode text greedily instead (no key needed).

        **Returns:**

        One example of the target modality.
        """
        return self.decoder(self.encoder(source), key=key, greedy=greedy)

    def teacher_output(self, source: Array, target: Array) -> Array:
        """What the training loss compares with `target` (see `generator_loss`)."""
        return self.decoder.teacher_output(self.encoder(source), target)

    @property
    def target_modality(self) -> str:
        """The modality of what the generator makes."""
        return self.decoder.modality


def make_generator(
    source: str,
    target: str,
    data: Any,
    *,
    d_model: int = 128,
    towers: str = "generic",
    key: PRNGKeyArray,
) -> CrossModalGenerator:
    """A `source -> target` generator from the encoder and decoder of `towers`
    (`make_encoder`, `make_decoder`).

    **Arguments:**

    - `source`, `target`: two different modalities of `data`.
    - `data`: a `DataSpec`, or anything with a `spec` (a `SyntheticConfig`, ...).
    - `d_model`: keyword only. The width between encoder and decoder.
    - `towers`: keyword only. A registered tower family (`register_towers`): `"generic"`
        (default), the guide's `"guide"`, or yours.
    - `key`: keyword only. The key of the initialisation.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig
    >>> config = SyntheticConfig(image_shape=(8, 8, 3), sample_rate=4000, duration=0.25)
    >>> generator = make_generator("audio", "image", config, d_model=32, key=jr.key(0))
    >>> generator(jr.normal(jr.key(1), (1000,))).shape
    (8, 8, 3)

    ```
    """
    check_choice(source, "source", registered_modalities())
    check_choice(target, "target", registered_modalities())
    if source == target:
        raise ValueError(f"`source` and `target` must differ, got {source!r} twice")
    check_int(d_model, "d_model")
    encoder_key, decoder_key = jr.split(key)
    return CrossModalGenerator(
        make_encoder(source, data, d_model, towers=towers, key=encoder_key),
        make_decoder(target, data, d_model, towers=towers, key=decoder_key),
    )

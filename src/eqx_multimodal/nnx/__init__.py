"""The guide's Flax NNX API on top of the functional core.

Change the guide's imports to `from eqx_multimodal.nnx import ...` and its code runs
as written: the same names, arguments and call forms. `Rngs` stands in for
`flax.nnx.Rngs`, and wherever the shim takes `rngs` a real `flax.nnx.Rngs` works too;
Flax itself is never required. Nothing else in the package imports this module.
"""

from ._data import (
    create_synthetic_multi_modal_dataset as create_synthetic_multi_modal_dataset,
    generate_aligned_sample as generate_aligned_sample,
    generate_audio_from_latent as generate_audio_from_latent,
    generate_image_from_latent as generate_image_from_latent,
    generate_text_from_latent as generate_text_from_latent,
    MultiModalDataset as MultiModalDataset,
    MultiModalPairedDataset as MultiModalPairedDataset,
)
from ._models import (
    early_fusion as early_fusion,
    ImageToTextGenerator as ImageToTextGenerator,
    late_fusion as late_fusion,
    MultiModalAttentionFusion as MultiModalAttentionFusion,
    TextToAudioGenerator as TextToAudioGenerator,
    TextToImageGenerator as TextToImageGenerator,
)
from ._rngs import Rngs as Rngs, RngStream as RngStream

"""Encoders, one module per modality family: the generic towers for any data (the
guide's fitted towers are in `eqx_multimodal.guide.towers`)."""

from .audio import AudioEncoder as AudioEncoder
from .image import ImageEncoder as ImageEncoder, MLPEncoder as MLPEncoder
from .text import TextEncoder as TextEncoder, TokenBagEncoder as TokenBagEncoder

"""Image encoders: a generic residual conv net, and a flattening MLP for any item (the
guide's grating towers are in `eqx_multimodal.guide.towers`)."""

from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..._types import Embedding, Image
from ..._validation import check_int, check_shape
from .._base import AbstractEncoder
from .._layers import ConvResidualBlock
from ._checks import check_example


class ImageEncoder(AbstractEncoder):
    """A small residual conv net: stem, stages of residual blocks with GroupNorm (no
    batch statistics) separated by stride-2 convolutions, global average pooling, and a
    projection to `d_model`.

    ```python
    >>> import jax.random as jr
    >>> encoder = ImageEncoder((16, 16, 3), 64, channels=(8, 16), key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (16, 16, 3))).shape
    (64,)

    ```
    """

    stem: eqx.nn.Conv2d
    stages: tuple[tuple[ConvResidualBlock, ...], ...]
    downsamples: tuple[eqx.nn.Conv2d, ...]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    modality: ClassVar[str] = "image"

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        channels: Sequence[int] = (32, 64),
        blocks_per_stage: int = 1,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)` of the input.
        - `d_model`: the embedding size.
        - `channels`: keyword only. The width of each stage; the image is halved
            between stages.
        - `blocks_per_stage`: keyword only. Residual blocks in each stage.
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        self.d_model = check_int(d_model, "d_model")
        channels = tuple(check_int(c, "channels") for c in channels)
        if not channels:
            raise ValueError("`channels` must name at least one stage width, got ()")
        check_int(blocks_per_stage, "blocks_per_stage", minimum=0)
        stem_key, head_key, *keys = jr.split(key, 2 + 2 * len(channels))
        self.stem = eqx.nn.Conv2d(self.image_shape[2], channels[0], 3, padding=1, key=stem_key)
        self.stages = tuple(
            tuple(ConvResidualBlock(c, key=k) for k in jr.split(keys[2 * i], blocks_per_stage))
            for i, c in enumerate(channels)
        )
        self.downsamples = tuple(
            eqx.nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, key=keys[2 * i + 1])
            for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]))
        )
        self.norm = eqx.nn.LayerNorm(channels[-1])
        self.head = eqx.nn.Linear(channels[-1], d_model, key=head_key)

    def __call__(self, image: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        """**Arguments:**

        - `image`: one image, `(height, width, channels)` as configured.
        - `key`: ignored (deterministic); accepted for a uniform encoder interface.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        del key
        check_example(image, self.image_shape, "image")
        x = self.stem(jnp.transpose(image, (2, 0, 1)))
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsamples[i - 1](x)
            for block in stage:
                x = block(x)
        return self.head(self.norm(jnp.mean(x, axis=(1, 2))))


class MLPEncoder(AbstractEncoder):
    """Flatten the input and apply `Linear -> relu -> Linear`: the guide's image encoder.

    Works for any modality of a fixed shape (integers are cast to float32).

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> MLPEncoder((4, 4, 1), 32, 8, key=jr.key(0))(jnp.zeros((4, 4, 1))).shape
    (8,)

    ```
    """

    hidden: eqx.nn.Linear
    output: eqx.nn.Linear
    input_shape: tuple[int, ...] = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    modality: str = eqx.field(static=True)

    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: int,
        d_model: int,
        *,
        modality: str = "image",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `input_shape`: the shape of one example.
        - `hidden`: the width of the hidden layer.
        - `d_model`: the embedding size.
        - `modality`: keyword only. What the examples are (default `"image"`).
        - `key`: keyword only. The key of the initialisation.
        """
        self.input_shape = tuple(check_int(n, "input_shape") for n in input_shape)
        check_int(hidden, "hidden")
        self.d_model = check_int(d_model, "d_model")
        self.modality = modality
        hidden_key, output_key = jr.split(key)
        size = int(np.prod(self.input_shape))
        self.hidden = eqx.nn.Linear(size, hidden, key=hidden_key)
        self.output = eqx.nn.Linear(hidden, d_model, key=output_key)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Embedding:
        """**Arguments:**

        - `x`: one example, of `input_shape`.
        - `key`: ignored (deterministic); accepted for a uniform encoder interface.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        del key
        check_example(x, self.input_shape, "input")
        return self.output(jax.nn.relu(self.hidden(jnp.ravel(x).astype(jnp.float32))))

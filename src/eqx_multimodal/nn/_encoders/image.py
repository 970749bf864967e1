"""Image encoders: a generic residual conv net, the guide's flattening MLP, and the
guide-fitted grating towers (`GratingImageEncoder`, and the set tower
`GratingSetEncoder`)."""

from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..._types import Embedding, Image
from ..._validation import check_int, check_shape
from .._base import AbstractEncoder
from .._layers import ConvResidualBlock, DeepSet, ElementMLP
from .._set_fits import fit_grating_set, GratingFit, scale_sign_posterior
from .._signal import (
    check_frequencies,
    fit_gratings,
    GUIDE_FREQUENCIES,
    harmonics,
    relative_amplitudes,
)
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


class GratingImageEncoder(AbstractEncoder):
    """`fit_gratings` -> per-grating features -> DeepSets, plus an indexed head.

    Each grating `k` becomes the harmonics of its doubled phase and its amplitude relative
    to the others; a shared MLP encodes each and the results are pooled by amplitude (the
    audio has the same components in no order). A linear head on the MLP's outputs for
    all gratings in order is added, for modalities that know which grating is which (the
    text, whose token counts say something about each signed `z_k`: a nonlinear function
    of the grating's phase and amplitude).

    ```python
    >>> import jax.random as jr
    >>> encoder = GratingImageEncoder((16, 16, 1), 64, hidden=32, key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (16, 16, 1))).shape
    (64,)

    ```
    """

    components: DeepSet
    indexed_head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    frequencies: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    num_phases: int = eqx.field(static=True)
    sweeps: int = eqx.field(static=True)
    modality: ClassVar[str] = "image"

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        frequencies: Sequence[float] = GUIDE_FREQUENCIES,
        harmonics: int = 3,
        hidden: int = 128,
        num_phases: int = 180,
        sweeps: int = 8,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)`; channels are averaged.
        - `d_model`: the embedding size.
        - `frequencies`: keyword only. The gratings' frequencies, rad per unit.
        - `harmonics`: keyword only. Harmonics of each phase given to the MLP.
        - `hidden`: keyword only. Width of the per-grating MLP.
        - `num_phases`, `sweeps`: keyword only. Of `fit_gratings`.
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        self.d_model = check_int(d_model, "d_model")
        self.frequencies = check_frequencies(frequencies)
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        self.num_phases = check_int(num_phases, "num_phases", minimum=2)
        self.sweeps = check_int(sweeps, "sweeps")
        features = 2 * self.harmonics + 2
        set_key, indexed_key = jr.split(key)
        self.components = DeepSet(features, hidden, d_model, key=set_key)
        self.indexed_head = eqx.nn.Linear(hidden * len(self.frequencies), d_model, key=indexed_key)

    def gratings(self, image: Image) -> tuple[Float[Array, " K"], Float[Array, " K"]]:
        """The fitted amplitude and doubled phase of each grating (no gradient)."""
        check_example(image, self.image_shape, "image")
        gray = jnp.mean(jax.lax.stop_gradient(image), axis=-1)
        return fit_gratings(gray, self.frequencies, num_phases=self.num_phases, sweeps=self.sweeps)

    def __call__(self, image: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        amplitude, phase = self.gratings(image)
        relative, amplitude_features = relative_amplitudes(jnp.abs(amplitude))
        features = jnp.concatenate([harmonics(phase, self.harmonics), amplitude_features], -1)
        h = self.components.encode(features)
        return self.components.pool(h, relative) + self.indexed_head(h.reshape(-1))


def grating_features(fit: GratingFit, num_harmonics: int) -> Float[Array, "K f"]:
    """Per grating: its sign posterior (`p(+) - 1/2`, `E[z]`, `E|z|`, `log E|z|`),
    harmonics of its doubled phase, its log amplitude relative to the image's mean, its
    Laplace uncertainties (log phase std, log relative amplitude std, correlation), and
    the image's log signal-to-noise."""
    amplitude = jnp.maximum(fit.amplitude, 1e-4)
    mean = jnp.mean(amplitude)
    num = amplitude.shape[0]
    snr = jnp.log(mean**2 / (fit.noise + 1e-12) + 1e-6)
    post = scale_sign_posterior(fit)
    columns = [
        (post.plus - 0.5)[:, None],
        post.mean[:, None],
        post.magnitude[:, None],
        jnp.log(post.magnitude + 1e-3)[:, None],
        harmonics(fit.phase, num_harmonics),
        jnp.log(amplitude / mean)[:, None],
        jnp.log(fit.phase_std + 1e-3)[:, None],
        jnp.log(fit.amplitude_std / mean + 1e-3)[:, None],
        fit.correlation[:, None],
        jnp.broadcast_to(snr, (num, 1)) / 10,
    ]
    return jnp.concatenate(columns, axis=-1)


class GratingSetEncoder(AbstractEncoder):
    """`fit_grating_set` -> per-grating features -> a shared MLP -> two outputs,
    concatenated:

    - the set part (`d_set`): each grating's encoding mapped linearly and summed over
      the gratings, so that its dot product with `ToneSetEncoder`'s log-sum-exp pooled
      tones is a mixture likelihood of the gratings given the tones (it sums over the
      assignments of gratings to tones instead of fixing one);
    - the indexed part (`d_model - d_set`): a linear map of all gratings' encodings in
      order (grating `k` is latent `k`: for the text, which knows which is which).

    The MLP also sees each grating's index (one-hot) and the mean of all gratings'
    features (the image's scale and noise). The fit has no gradient.

    ```python
    >>> import jax.random as jr
    >>> encoder = GratingSetEncoder((16, 16, 1), 64, hidden=32, key=jr.key(0))
    >>> encoder(jr.uniform(jr.key(1), (16, 16, 1))).shape
    (64,)

    ```
    """

    elements: ElementMLP
    set_head: eqx.nn.Linear
    indexed_head: eqx.nn.Linear
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    frequencies: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    num_phases: int = eqx.field(static=True)
    starts: int = eqx.field(static=True)
    sweeps: int = eqx.field(static=True)
    modality: ClassVar[str] = "image"

    def __init__(
        self,
        image_shape: Sequence[int],
        d_model: int,
        *,
        d_set: int | None = None,
        frequencies: Sequence[float] = GUIDE_FREQUENCIES,
        harmonics: int = 4,
        hidden: int = 128,
        num_phases: int = 32,
        starts: int = 4,
        sweeps: int = 4,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `image_shape`: `(height, width, channels)`.
        - `d_model`: the embedding size (at least 2).
        - `d_set`: keyword only. The size of the set part (default `d_model // 2`).
        - `frequencies`: keyword only. The gratings' frequencies (the guide's).
        - `harmonics`: keyword only. Harmonics of each grating's phase.
        - `hidden`: keyword only. Width of the per-grating MLP.
        - `num_phases`, `starts`, `sweeps`: keyword only. The fit's phase grid, its
            number of starts and its coordinate sweeps (`fit_grating_set`).
        - `key`: keyword only. The key of the initialisation.
        """
        self.image_shape = check_shape(image_shape, "image_shape", length=3)  # type: ignore
        self.d_model = check_int(d_model, "d_model", minimum=2)
        d_set = self.d_model // 2 if d_set is None else d_set
        check_int(d_set, "d_set", maximum=self.d_model - 1)
        self.frequencies = check_frequencies(frequencies)
        self.harmonics = check_int(harmonics, "harmonics")
        check_int(hidden, "hidden")
        self.num_phases = check_int(num_phases, "num_phases", minimum=2)
        self.starts = check_int(starts, "starts")
        self.sweeps = check_int(sweeps, "sweeps")
        num = len(self.frequencies)
        features = 2 * self.harmonics + 9 + num
        k1, k2, k3 = jr.split(key, 3)
        # Each grating's features, its one-hot index and the mean of all gratings' features.
        self.elements = ElementMLP(2 * features, hidden, key=k1)
        self.set_head = eqx.nn.Linear(hidden, d_set, key=k2)
        self.indexed_head = eqx.nn.Linear(hidden * num, self.d_model - d_set, key=k3)

    def front(self, image: Image) -> GratingFit:
        """`fit_grating_set` of the image's mean over channels (no gradient)."""
        check_example(image, self.image_shape, "image")
        gray = jnp.mean(jax.lax.stop_gradient(image), axis=-1)
        return fit_grating_set(
            gray,
            self.frequencies,
            num_phases=self.num_phases,
            starts=self.starts,
            sweeps=self.sweeps,
        )

    def encode(self, fit: GratingFit) -> Embedding:
        """The embedding of a fit (as `front` returns it)."""
        fit = jax.lax.stop_gradient(fit)
        num = len(self.frequencies)
        x = jnp.concatenate([grating_features(fit, self.harmonics), jnp.eye(num)], axis=-1)
        context = jnp.broadcast_to(jnp.mean(x, axis=0), x.shape)
        h = self.elements(jnp.concatenate([x, context], axis=-1))
        pooled = jnp.sum(jax.vmap(self.set_head)(h), axis=0)
        return jnp.concatenate([pooled, self.indexed_head(h.reshape(-1))])

    def __call__(self, x: Image, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        return self.encode(self.front(x))

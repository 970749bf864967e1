"""One latent space for every modality: encoders in, decoders out."""

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from .._types import pair_names
from .._validation import check_int, check_key, check_modalities, check_real
from ..data import as_spec
from ..modalities import registered_modalities
from ._base import AbstractDecoder, AbstractEncoder
from ._towers import default_towers, get_towers, make_decoder, make_encoder


Latent = Float[Array, " latent_dim"]


def l2_normalize(x: Float[Array, "*batch d"], eps: float = 1e-6) -> Float[Array, "*batch d"]:
    """`x / |x|` along the last axis (with `eps` inside the square root, so 0 stays finite).

    ```python
    >>> import jax.numpy as jnp
    >>> l2_normalize(jnp.array([3.0, 4.0]))
    Array([0.6, 0.8], dtype=float32)

    ```
    """
    return x / jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


class SharedLatentModel(eqx.Module):
    """One encoder per modality into one latent space, and decoders back out of it.

    Each encoder is followed by a linear projection head. With most towers (the
    `"generic"` ones and the guide's `"guide"`) its output is L2-normalised: the latent
    of an example lies on the unit sphere, where a dot product is a cosine similarity.
    Towers whose family says otherwise (`TowerFamily.normalized`: the guide's `"sets"`,
    the default for the built-in synthetic data, built so that a dot product is a set
    log-likelihood) keep their latents as they are (`normalized`). A learnable
    log-temperature (and a bias, for SigLIP) belongs to the model, so it is trained and
    checkpointed with it.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig, synthetic_item
    >>> config = SyntheticConfig(modalities=["image", "audio"], image_shape=(16, 16, 1),
    ...                          sample_rate=4000, duration=0.25)
    >>> model = SharedLatentModel(config, towers="guide", latent_dim=32, d_model=32,
    ...                           decoders=False, key=jr.key(0))
    >>> z = model.embed("audio", synthetic_item(0, key=jr.key(1), config=config)["audio"])
    >>> z.shape, round(float((z ** 2).sum()), 4)
    ((32,), 1.0)

    ```
    """

    encoders: dict[str, AbstractEncoder]
    heads: dict[str, eqx.nn.Linear]
    decoders: dict[str, AbstractDecoder]
    log_temperature: Float[Array, " pairs"]
    bias: Float[Array, " pairs"]
    modalities: tuple[str, ...] = eqx.field(static=True)
    latent_dim: int = eqx.field(static=True)
    towers: str = eqx.field(static=True)
    #: Whether latents are L2-normalised (the family's `TowerFamily.normalized`).
    normalized: bool = eqx.field(static=True)

    def __init__(
        self,
        data: Any,
        *,
        towers: str | None = None,
        modalities: Sequence[str] | None = None,
        latent_dim: int = 128,
        d_model: int = 256,
        temperature: float | None = None,
        decoders: bool = True,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `data`: the shapes of the data: a `DataSpec`, or anything with a `spec` (a
            `SyntheticConfig`, a `PairedDataset`, a `PairedFolder`).
        - `towers`: keyword only. A registered tower family (`nn.register_towers`):
            `"generic"` (for any data), the guide's `"sets"` or `"guide"` (fitted to its
            synthetic signals), or yours; default the data's own (`nn.default_towers`:
            `"sets"` for the guide's `SyntheticConfig`, `"generic"` for anything else).
        - `modalities`: keyword only. Which modalities to model (default: the data's).
        - `latent_dim`: keyword only. The size of the shared latent.
        - `d_model`: keyword only. The width of each encoder's output.
        - `temperature`: keyword only. The initial inverse temperature of the
            contrastive logits (learned, one per pair of modalities, as
            `log_temperature`); default 10 for normalised latents (cosines lie in
            [-1, 1]) and 1 for the `"sets"` towers.
        - `decoders`: keyword only. Build a decoder per modality (for reconstruction),
            for each modality that has one (`Modality.decoder`).
        - `key`: keyword only. The key of the initialisation.
        """
        check_key(key)
        spec = as_spec(data)
        self.towers = default_towers(data) if towers is None else towers
        family = get_towers(self.towers)
        self.normalized = family.normalized
        chosen = spec.modalities if modalities is None else modalities
        self.modalities = check_modalities(chosen, "modalities", registered_modalities())
        missing = set(self.modalities) - set(spec.modalities)
        if missing:
            raise ValueError(
                f"`modalities` names {sorted(missing)}, which the data does not have "
                f"(it has {list(spec.modalities)})"
            )
        self.latent_dim = check_int(latent_dim, "latent_dim")
        check_int(d_model, "d_model")
        if temperature is None:
            temperature = 10.0 if self.normalized else 1.0
        check_real(temperature, "temperature", low=0.0, low_open=True)
        keys = dict(zip(self.modalities, jr.split(key, len(self.modalities))))
        self.encoders, self.heads, self.decoders = {}, {}, {}
        for name, k in keys.items():
            encoder_key, head_key, decoder_key = jr.split(k, 3)
            self.encoders[name] = make_encoder(
                name, data, d_model, towers=self.towers, key=encoder_key
            )
            # An encoder with its own learned constant (`AbstractEncoder.head_bias`) has
            # a head without bias.
            use_bias = self.encoders[name].head_bias
            self.heads[name] = eqx.nn.Linear(d_model, latent_dim, use_bias=use_bias, key=head_key)
            # A modality its family has no decoder for (a registered modality without a
            # decoder factory) has none, and no reconstruction term.
            if decoders and family.has_decoder(name):
                self.decoders[name] = make_decoder(
                    name, data, latent_dim, towers=self.towers, key=decoder_key
                )
        # One temperature (and bias) per pair: a weak pair (text) must not set how
        # sharp a strong one (image-audio) may be.
        pairs = len(self.pairs)
        self.log_temperature = jnp.full(pairs, math.log(temperature), dtype=jnp.float32)
        self.bias = jnp.full(pairs, -10.0, dtype=jnp.float32)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every pair of the model's modalities, in the order of `log_temperature`."""
        return pair_names(self.modalities)

    def pair_index(self, a: str, b: str) -> int:
        """The position of the pair `(a, b)` in `log_temperature` and `bias`."""
        for i, pair in enumerate(self.pairs):
            if pair in ((a, b), (b, a)):
                return i
        raise ValueError(f"this model has no pair ({a!r}, {b!r}); it has {self.pairs}")

    def embed(self, modality: str, example: Array) -> Latent:
        """The latent of one example of `modality` (L2-normalised if `normalized`)."""
        if modality not in self.encoders:
            raise ValueError(
                f"this model has no {modality!r} encoder (it has {list(self.encoders)})"
            )
        embedding = self.encoders[modality](example)
        width = self.heads[modality].in_features
        if embedding.shape != (width,):  # static: checked when traced, free after
            raise ValueError(
                f"the encoder of modality {modality!r} ({type(self.encoders[modality]).__name__})"
                f" returned shape {embedding.shape}, not (d_model,) = ({width},)"
            )
        latent = self.heads[modality](embedding)
        return l2_normalize(latent) if self.normalized else latent

    def embed_batch(self, batch: dict[str, Array]) -> dict[str, Float[Array, "batch latent"]]:
        """The latents of every modality of the model present in `batch`."""
        return {
            name: jax.vmap(lambda x, name=name: self.embed(name, x))(batch[name])
            for name in self.modalities
            if name in batch
        }

    def decode(
        self,
        modality: str,
        latent: Latent,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
    ) -> Array:
        """Generate one example of `modality` from a latent (text samples with `key`,
        or decodes greedily with `greedy=True`)."""
        if modality not in self.decoders:
            raise ValueError(f"this model has no {modality!r} decoder")
        return self.decoders[modality](latent, key=key, greedy=greedy)

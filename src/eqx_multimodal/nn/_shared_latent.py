"""One latent space for every modality: encoders in, decoders out."""

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from .._types import MODALITIES, pair_names
from .._validation import check_int, check_modalities, check_real
from ..data._config import SyntheticConfig
from ._generators import AudioDecoder, ImageDecoder, TokenBagDecoder
from ._parametric_encoders import GratingImageEncoder, PeakAudioEncoder


Latent = Float[Array, " latent_dim"]


def l2_normalize(x: Float[Array, "*batch d"], eps: float = 1e-6) -> Float[Array, "*batch d"]:
    return x / jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


class _TextTower(eqx.Module):
    """A centred bag of tokens plus a learned constant: the mean embedding of the tokens
    minus the mean embedding of the vocabulary, a linear map without bias, then `offset`.

    The guide's text has log-likelihood `sum_j n_j a z_j - L log sum_j c_j exp(a z_j)`
    given the latent (token counts `n_j` per group), and the embedding follows its form:

    - The centred part is linear in how far the token counts are from uniform (a text
      drawn uniformly, at alignment 0, maps to about 0 before the offset): the first term.
    - `offset` is the same for every text, so its dot product with the other modality's
      latent is a score that depends only on that item: the second term. Centring
      captures that term only to first order (it subtracts `L c_j / V` from each count,
      linear in `z`); scored that way, even the true latent loses a third of its
      text -> image recall@10 (`benchmarks/text_information.py`). It starts at zero,
      so training starts from the centred tower: an earlier tower with biases at their
      usual random start mapped every text to nearly one direction (mean cosine 0.997
      after 300 steps) and its text terms stayed at chance.
    - The token embeddings start small (`embed_scale`): Adam moves every entry by about
      the learning rate a step, so embeddings drawn at scale 1 stay mostly random for
      hundreds of steps, and the embedding of a text is then a random projection of its
      1000 token counts rather than of what they say.
    """

    embedding: Float[Array, "vocab embed"]
    linear: eqx.nn.Linear
    offset: Float[Array, " d_model"]

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        *,
        embed_dim: int = 128,
        embed_scale: float = 0.02,
        key: PRNGKeyArray,
    ):
        embedding_key, linear_key = jr.split(key)
        self.embedding = embed_scale * jr.normal(
            embedding_key, (vocab_size, embed_dim), dtype=jnp.float32
        )
        self.linear = eqx.nn.Linear(embed_dim, d_model, use_bias=False, key=linear_key)
        self.offset = jnp.zeros(d_model, dtype=jnp.float32)

    def centred(self, tokens: Array) -> Array:
        """The part of the embedding that depends on the text (0 for a uniform bag)."""
        centred = jnp.mean(self.embedding[tokens], axis=0) - jnp.mean(self.embedding, axis=0)
        return self.linear(centred)

    def __call__(self, tokens: Array, *, key: PRNGKeyArray | None = None) -> Array:
        del key
        return self.centred(tokens) + self.offset


def default_encoder(
    modality: str, config: SyntheticConfig, d_model: int, *, key: PRNGKeyArray
) -> eqx.Module:
    """The default tower of each modality of the shared-latent model (see README)."""
    if modality == "image":
        return GratingImageEncoder(config.image_shape, d_model, key=key)
    if modality == "audio":
        return PeakAudioEncoder(
            config.num_audio_samples,
            d_model,
            sample_rate=config.sample_rate,
            f_max=min(2000.0, config.sample_rate / 2),
            key=key,
        )
    return _TextTower(config.vocab_size, d_model, key=key)


def default_decoder(
    modality: str, config: SyntheticConfig, latent_dim: int, *, key: PRNGKeyArray
) -> eqx.Module:
    """The default decoder of each modality, out of the latent."""
    if modality == "image":
        return ImageDecoder(latent_dim, config.image_shape, hidden=256, key=key)
    if modality == "audio":
        return AudioDecoder(latent_dim, config.num_audio_samples, hidden=128, key=key)
    return TokenBagDecoder(latent_dim, config.vocab_size, config.seq_length, key=key)


class SharedLatentModel(eqx.Module):
    """One encoder per modality into one latent space, and decoders back out of it.

    Each encoder is followed by a linear projection head whose output is L2-normalised:
    the latent of an example lies on the unit sphere, where a dot product is a cosine
    similarity. A learnable log-temperature (and a bias, for SigLIP) belongs to the
    model, so it is trained and checkpointed with it.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig, synthetic_item
    >>> config = SyntheticConfig(modalities=["image", "audio"])
    >>> model = SharedLatentModel(config, latent_dim=32, key=jr.key(0))
    >>> z = model.embed("audio", synthetic_item(jr.key(1), 0, config=config)["audio"])
    >>> z.shape, round(float((z ** 2).sum()), 4)
    ((32,), 1.0)

    ```
    """

    encoders: dict[str, Any]
    heads: dict[str, eqx.nn.Linear]
    decoders: dict[str, Any]
    log_temperature: Float[Array, " pairs"]
    bias: Float[Array, " pairs"]
    modalities: tuple[str, ...] = eqx.field(static=True)
    latent_dim: int = eqx.field(static=True)

    def __init__(
        self,
        config: SyntheticConfig,
        *,
        modalities: Sequence[str] | None = None,
        latent_dim: int = 128,
        d_model: int = 256,
        temperature: float = 10.0,
        decoders: bool = True,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `config`: the shapes of the data (a `SyntheticConfig`).
        - `modalities`: keyword only. Which modalities to model (default: the config's).
        - `latent_dim`: keyword only. The size of the shared latent.
        - `d_model`: keyword only. The width of each encoder's output.
        - `temperature`: keyword only. The initial inverse temperature of the
            contrastive logits (learned, one per pair of modalities, as
            `log_temperature`).
        - `decoders`: keyword only. Build a decoder per modality (for reconstruction).
        - `key`: keyword only. The key of the initialisation.
        """
        if not isinstance(config, SyntheticConfig):
            raise TypeError(f"`config` must be a SyntheticConfig, got {config!r}")
        chosen = config.modalities if modalities is None else modalities
        self.modalities = check_modalities(chosen, "modalities", MODALITIES)
        missing = set(self.modalities) - set(config.modalities)
        if missing:
            raise ValueError(
                f"`modalities` names {sorted(missing)}, which the config does not have "
                f"(it has {list(config.modalities)})"
            )
        self.latent_dim = check_int(latent_dim, "latent_dim")
        check_int(d_model, "d_model")
        check_real(temperature, "temperature", low=0.0, low_open=True)
        keys = dict(zip(self.modalities, jr.split(key, len(self.modalities))))
        self.encoders, self.heads, self.decoders = {}, {}, {}
        for name, k in keys.items():
            encoder_key, head_key, decoder_key = jr.split(k, 3)
            self.encoders[name] = default_encoder(name, config, d_model, key=encoder_key)
            # No bias for text: its constant is `_TextTower.offset`, which starts at 0.
            self.heads[name] = eqx.nn.Linear(
                d_model, latent_dim, use_bias=name != "text", key=head_key
            )
            if decoders:
                self.decoders[name] = default_decoder(name, config, latent_dim, key=decoder_key)
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
        """The normalised latent of one example of `modality`."""
        if modality not in self.encoders:
            raise ValueError(
                f"this model has no {modality!r} encoder (it has {list(self.encoders)})"
            )
        return l2_normalize(self.heads[modality](self.encoders[modality](example)))

    def embed_batch(self, batch: dict[str, Array]) -> dict[str, Float[Array, "batch latent"]]:
        """The latents of every modality of the model present in `batch`."""
        return {
            name: jax.vmap(lambda x, name=name: self.embed(name, x))(batch[name])
            for name in self.modalities
            if name in batch
        }

    def decode(self, modality: str, latent: Latent, *, key: PRNGKeyArray | None = None) -> Array:
        """Generate one example of `modality` from a latent."""
        if modality not in self.decoders:
            raise ValueError(f"this model has no {modality!r} decoder")
        return self.decoders[modality](latent, key=key)

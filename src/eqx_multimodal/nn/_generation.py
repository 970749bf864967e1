"""Cross-modal generation from any subset of the other modalities: one generator per
target modality, conditioned on the fused shared-latent representations of whichever
sources are present, and able to sample (a conditional VAE).

A `ModalityGenerator` for target `t` reads the latents of the other modalities (those of
a `SharedLatentModel`), projects each to the generator's width, fuses the present ones
with the library's fusion and its presence mask (`AttentionFusion`, `GatedFusion`,
`EarlyFusion` or `LateFusion`), and decodes `concat(condition, z)`. In training `z` is
drawn from the posterior `q(z | condition, latent of the target, summary of the target)`
(for an image the summary is the image pooled: the hand, which no source
determines); at generation time from the prior `N(0, I)`, so `K` keys give `K`
different outputs for one source where the source leaves the target open, and
`greedy=True` takes the prior's mean and the decoder's most likely output. A decoder
that `samples_itself` (`GratingSetDecoder`: its draw of an assignment holds the
uncertainty) gets `z = 0` always, and no KL term.
"""

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._types import Scalar
from .._validation import check_choice, check_int, check_modalities, check_real
from ..data import as_spec
from ..modalities import get_modality, registered_modalities
from ._base import AbstractDecoder, check_sampling
from ._decoders import ImageDecoder
from ._fusion import AttentionFusion, EarlyFusion, GatedFusion, LateFusion
from ._shared_latent import SharedLatentModel
from ._towers import check_decoder, get_towers, make_decoder


#: The fusions a generator can use, by the name a config records.
FUSIONS = ("attention", "gated", "early", "late")
Fusion = AttentionFusion | GatedFusion | EarlyFusion | LateFusion


#: An image's summary is the image average-pooled to at most this side.
SUMMARY_SIDE = 16


def _pool(decoder: ImageDecoder) -> int:
    height, width, _ = decoder.image_shape
    return -(-max(height, width) // SUMMARY_SIDE)


def _summary_size(decoder: AbstractDecoder) -> int:
    if isinstance(decoder, ImageDecoder):
        height, width, channels = decoder.image_shape
        pool = _pool(decoder)
        return -(-height // pool) * -(-width // pool) * channels
    return 0


def _summary(decoder: AbstractDecoder, target: Array) -> Float[Array, " summary"]:
    """What the posterior reads of the target itself beside its latent, which a
    contrastive latent need not keep: for an image the image average-pooled to at most
    16 x 16 (the hand, the stroke); nothing for text (its decoder samples its own
    tokens) or audio (a summary of the spectrogram let the posterior carry hundreds of
    nats that samples from the prior could not reproduce)."""
    if isinstance(decoder, ImageDecoder):
        height, width, channels = decoder.image_shape
        pool = _pool(decoder)
        rows, cols = -(-height // pool), -(-width // pool)
        padded = jnp.pad(
            target.astype(jnp.float32),
            ((0, rows * pool - height), (0, cols * pool - width), (0, 0)),
        )
        return padded.reshape(rows, pool, cols, pool, channels).mean(axis=(1, 3)).reshape(-1)
    return jnp.zeros(0, jnp.float32)


SourceLatents = Float[Array, "sources latent_dim"]
SourceMask = Bool[Array, " sources"]


def make_fusion(fusion: str, width: int, num_modalities: int, *, key: PRNGKeyArray) -> Fusion:
    """The fusion module named `fusion` (one of `FUSIONS`) over `num_modalities`
    embeddings of size `width`, each taking a presence mask.

    ```python
    >>> import jax.random as jr
    >>> type(make_fusion("gated", 8, 2, key=jr.key(0))).__name__
    'GatedFusion'

    ```
    """
    check_choice(fusion, "fusion", FUSIONS)
    if fusion == "attention":
        heads = 4 if width % 4 == 0 else 1
        return AttentionFusion(width, heads, num_modalities, key=key)
    if fusion == "gated":
        return GatedFusion(width, num_modalities, key=key)
    if fusion == "early":
        return EarlyFusion(width, num_modalities, key=key)
    return LateFusion(width, num_modalities, key=key)


class ModalityGenerator(eqx.Module):
    """Makes one modality (`target`) from the fused latents of any non-empty subset of
    the others (`sources`): a conditional VAE.

    `__call__` takes the latents of every source, stacked in the order of `sources`
    (absent ones may hold anything: they are zeroed before anything reads them), and the
    presence mask; it returns one example of the target.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.nn import ImageDecoder
    >>> generator = ModalityGenerator(
    ...     "image", ("text", "audio"), ImageDecoder(24, (4, 4, 1), hidden=16, key=jr.key(0)),
    ...     latent_dim=8, width=16, z_dim=8, fusion="attention", key=jr.key(1))
    >>> latents = jr.normal(jr.key(2), (2, 8))
    >>> generator(latents, jnp.array([True, False]), key=jr.key(3)).shape
    (4, 4, 1)

    ```
    """

    projections: tuple[eqx.nn.Linear, ...]
    fusion: Fusion
    posterior: eqx.nn.MLP
    decoder: AbstractDecoder
    target: str = eqx.field(static=True)
    sources: tuple[str, ...] = eqx.field(static=True)
    latent_dim: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    z_dim: int = eqx.field(static=True)

    def __init__(
        self,
        target: str,
        sources: Sequence[str],
        decoder: AbstractDecoder,
        *,
        latent_dim: int,
        width: int = 128,
        z_dim: int = 16,
        fusion: str = "attention",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `target`: the modality made (the decoder's).
        - `sources`: the modalities it is made from, in the order of the stacked latents.
        - `decoder`: from a `(width + z_dim,)` condition to one example of `target`.
        - `latent_dim`: keyword only. The size of each source's latent.
        - `width`: keyword only. The size of the fused condition.
        - `z_dim`: keyword only. The size of the VAE's latent `z`.
        - `fusion`: keyword only. One of `FUSIONS`.
        - `key`: keyword only. The key of the initialisation.
        """
        self.target = target
        self.sources = tuple(sources)
        self.decoder = decoder
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.width = check_int(width, "width")
        self.z_dim = check_int(z_dim, "z_dim")
        fusion_key, posterior_key, *keys = jr.split(key, 2 + len(self.sources))
        self.projections = tuple(eqx.nn.Linear(latent_dim, width, key=k) for k in keys)
        self.fusion = make_fusion(fusion, width, max(1, len(self.sources)), key=fusion_key)
        self.posterior = eqx.nn.MLP(
            width + latent_dim + _summary_size(decoder),
            2 * z_dim,
            width,
            1,
            activation=jax.nn.gelu,
            key=posterior_key,
        )

    def __check_init__(self):
        if not self.sources:
            raise ValueError("`sources` must name at least one modality, got ()")
        if len(set(self.sources)) != len(self.sources) or self.target in self.sources:
            raise ValueError(
                f"`sources` must be distinct modalities other than the target {self.target!r}, "
                f"got {self.sources}"
            )
        if self.decoder.modality != self.target:
            raise ValueError(
                f"the decoder makes {self.decoder.modality!r}, not the target {self.target!r}"
            )
        if self.decoder.d_in != self.width + self.z_dim:
            raise ValueError(
                f"the decoder's input ({self.decoder.d_in}) must be width + z_dim = "
                f"{self.width + self.z_dim}"
            )
        parameters = inspect.signature(self.decoder.__call__).parameters
        if "temperature" not in parameters and not any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        ):
            raise TypeError(
                f"the decoder of {self.target!r} ({type(self.decoder).__name__}) must take "
                "`temperature=` in its __call__, as AbstractDecoder's does (a deterministic "
                "decoder ignores it)"
            )

    def _check(self, latents: Array, present: Array) -> None:
        expected = (len(self.sources), self.latent_dim)
        if latents.shape != expected:
            raise ValueError(
                f"`latents` must be (sources, latent_dim) = {expected}, one latent of each of "
                f"{self.sources}, got shape {latents.shape}"
            )
        if present.shape != (len(self.sources),):
            raise ValueError(
                f"`present` must have shape ({len(self.sources)},), got {present.shape}"
            )

    def condition(self, latents: SourceLatents, present: SourceMask) -> Float[Array, " width"]:
        """The fused condition of the present sources, `(width,)`."""
        self._check(latents, present)
        present = present.astype(bool)
        latents = jnp.where(present[:, None], latents, 0.0)
        projected = jnp.stack([p(z) for p, z in zip(self.projections, latents)])
        projected = jnp.where(present[:, None], projected, 0.0)
        return self.fusion(projected, present)

    def posterior_params(
        self,
        condition: Float[Array, " width"],
        target_latent: Float[Array, " latent_dim"],
        target: Array,
    ) -> tuple[Float[Array, " z_dim"], Float[Array, " z_dim"]]:
        """The mean and log-variance of `q(z | condition, latent of the target, summary
        of the target)`."""
        summary = _summary(self.decoder, target)
        out = self.posterior(jnp.concatenate([condition, target_latent, summary]))
        mean, log_var = jnp.split(out, 2)
        return mean, jnp.clip(log_var, -10.0, 5.0)

    def teacher_output(
        self,
        latents: SourceLatents,
        present: SourceMask,
        target_latent: Float[Array, " latent_dim"],
        target: Array,
        *,
        key: PRNGKeyArray,
    ) -> tuple[Any, Scalar]:
        """What the training loss compares with `target` (the decoder's
        `teacher_output`, with `z` drawn from the posterior by `key`), and the KL
        divergence of the posterior from the prior `N(0, I)`."""
        condition = self.condition(latents, present)
        if self.decoder.samples_itself:
            z = jnp.zeros(self.z_dim, condition.dtype)
            kl = jnp.zeros((), condition.dtype)
        else:
            mean, log_var = self.posterior_params(condition, target_latent, target)
            z = mean + jnp.exp(0.5 * log_var) * jr.normal(key, mean.shape, mean.dtype)
            kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var)
        return self.decoder.teacher_output(jnp.concatenate([condition, z]), target), kl

    def __call__(
        self,
        latents: SourceLatents,
        present: SourceMask,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Array:
        """**Arguments:**

        - `latents`: the sources' latents, `(len(sources), latent_dim)`.
        - `present`: which sources are present (at least one, for a meaningful output).
        - `key`: keyword only. Draws `z` from the prior (and the decoder's own sample,
            for text).
        - `greedy`: keyword only. `z` at the prior's mean and the decoder's most likely
            output, no key needed.
        - `temperature`: keyword only. > 0. How wide to sample: `z` is drawn from
            `N(0, temperature^2 I)` and a sampling decoder (text) divides its logits by
            it. 1 samples the trained model; towards 0 it nears the greedy output.

        **Returns:**

        One example of `target`.
        """
        check_sampling(key, greedy, "ModalityGenerator")
        check_real(temperature, "temperature", low=0.0, low_open=True)
        condition = self.condition(latents, present)
        if greedy:
            z = jnp.zeros(self.z_dim, condition.dtype)
            return self.decoder(jnp.concatenate([condition, z]), greedy=True)
        assert key is not None
        z_key, decoder_key = jr.split(key)
        if self.decoder.samples_itself:
            z = jnp.zeros(self.z_dim, condition.dtype)
        else:
            z = temperature * jr.normal(z_key, (self.z_dim,), condition.dtype)
        return self.decoder(
            jnp.concatenate([condition, z]), key=decoder_key, temperature=temperature
        )


class Generators(eqx.Module):
    """One `ModalityGenerator` per modality, each making its modality from the others.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.data import DataSpec
    >>> spec = DataSpec(modalities=("image", "audio"), image_shape=(4, 4, 1),
    ...                 sample_rate=1000, num_audio_samples=256)
    >>> generators = make_generators(spec, latent_dim=8, width=16, z_dim=4, targets=["image"],
    ...                              key=jr.key(0))
    >>> latents = {"audio": jnp.ones(8)}
    >>> generators.generate("image", latents, key=jr.key(1)).shape
    (4, 4, 1)

    ```
    """

    generators: dict[str, ModalityGenerator]
    modalities: tuple[str, ...] = eqx.field(static=True)
    fusion: str = eqx.field(static=True)

    def __check_init__(self):
        for target, generator in self.generators.items():
            if generator.target != target:
                raise ValueError(f"generators[{target!r}] makes {generator.target!r}")

    def generator(self, target: str) -> ModalityGenerator:
        """The generator of `target` (a one-line error when there is none)."""
        if target not in self.generators:
            raise ValueError(f"no generator makes {target!r}; these make {sorted(self.generators)}")
        return self.generators[target]

    def stack(
        self,
        target: str,
        latents: Mapping[str, Float[Array, " latent_dim"]],
        present: Mapping[str, Bool[Array, ""]] | None = None,
    ) -> tuple[SourceLatents, SourceMask]:
        """The stacked source latents and presence mask of `target`'s generator: the
        sources in `latents` are present (where `present` says so), the others absent."""
        generator = self.generator(target)
        unknown = sorted(set(latents) - set(generator.sources))
        if unknown:
            raise ValueError(
                f"{target!r} is made from {list(generator.sources)}, not from {unknown}"
            )
        if not latents:
            raise ValueError(f"generating {target!r} needs at least one source, got none")
        zero = jnp.zeros(generator.latent_dim, jnp.float32)
        stacked = jnp.stack([latents.get(s, zero) for s in generator.sources])
        mask = jnp.stack(
            [
                jnp.asarray(s in latents) & jnp.asarray((present or {}).get(s, True), bool)
                for s in generator.sources
            ]
        )
        return stacked, mask

    def generate(
        self,
        target: str,
        latents: Mapping[str, Float[Array, " latent_dim"]],
        present: Mapping[str, Bool[Array, ""]] | None = None,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
        temperature: float = 1.0,
    ) -> Array:
        """One example of `target` from the latents of some of the other modalities
        (one example each; `present` optionally masks some of them out); `key`,
        `greedy` and `temperature` as for `ModalityGenerator`."""
        stacked, mask = self.stack(target, latents, present)
        return self.generators[target](
            stacked, mask, key=key, greedy=greedy, temperature=temperature
        )


def make_generators(
    data: Any,
    *,
    latent_dim: int,
    modalities: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    fusion: str = "attention",
    width: int = 128,
    z_dim: int = 16,
    towers: str = "generic",
    key: PRNGKeyArray,
) -> Generators:
    """A generator for each of `targets`, each from all the other `modalities`.

    **Arguments:**

    - `data`: a `DataSpec`, or anything with a `spec` (the decoders' shapes).
    - `latent_dim`: keyword only. The size of the shared latents the generators read.
    - `modalities`: keyword only. The modalities of the model (default: the data's):
        any registered ones (`eqx_multimodal.modalities`).
    - `targets`: keyword only. The modalities to make (default: every one that has a
        decoder: the built-ins, and a modality of yours registered with a `decoder`
        factory; one without a decoder is still a source).
    - `fusion`: keyword only. One of `FUSIONS`.
    - `width`, `z_dim`: keyword only. The fused condition's size and the VAE's `z`.
    - `towers`: keyword only. Whose decoders (`make_decoder`), for a modality without a
        `Modality.generate` of its own (the built-in audio's is a `SpectrogramDecoder`).
    - `key`: keyword only. The key of the initialisation.
    """
    spec = as_spec(data)
    chosen = spec.modalities if modalities is None else modalities
    names = check_modalities(chosen, "modalities", registered_modalities())
    if len(names) < 2:
        raise ValueError(f"generation needs at least two modalities, got {list(names)}")
    if targets is None:
        wanted = tuple(m for m in names if _has_decoder(m, towers))
        if not wanted:
            raise ValueError(
                f"none of {list(names)} has a decoder to generate it; register one with "
                "Modality(..., decoder=...)"
            )
    else:
        wanted = check_modalities(targets, "targets", names)
    check_choice(fusion, "fusion", FUSIONS)
    check_int(width, "width")
    check_int(z_dim, "z_dim")
    generators = {}
    for target, k in zip(wanted, jr.split(key, len(wanted))):
        decoder_key, generator_key = jr.split(k)
        d_in = width + z_dim
        factory = get_modality(target).generate
        if factory is None:
            decoder = make_decoder(target, data, d_in, towers=towers, key=decoder_key)
        else:
            decoder = check_decoder(
                factory(spec, d_in, key=decoder_key),
                f"the `generate` factory of modality {target!r}",
            )
        generators[target] = ModalityGenerator(
            target,
            tuple(m for m in names if m != target),
            decoder,
            latent_dim=latent_dim,
            width=width,
            z_dim=z_dim,
            fusion=fusion,
            key=generator_key,
        )
    return Generators(generators, tuple(names), fusion)


def _has_decoder(modality: str, towers: str) -> bool:
    """Whether `make_generators` can make `modality`: its own `Modality.generate`, or a
    decoder of its towers."""
    return get_modality(modality).generate is not None or get_towers(towers).has_decoder(modality)


class GenerativeModel(eqx.Module):
    """A trained shared-latent model and its generators: sources in, a target out.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.data import DataSpec
    >>> spec = DataSpec(modalities=("image", "audio"), image_shape=(8, 8, 1),
    ...                 sample_rate=1000, num_audio_samples=256)
    >>> latent = SharedLatentModel(spec, latent_dim=8, d_model=16, decoders=False,
    ...                            key=jr.key(0))
    >>> generators = make_generators(spec, latent_dim=8, width=16, targets=["image"],
    ...                              key=jr.key(1))
    >>> model = GenerativeModel(latent, generators)
    >>> model.translate({"audio": jnp.zeros(256)}, "image", greedy=True).shape
    (8, 8, 1)

    ```
    """

    latent: SharedLatentModel
    generators: Generators

    def __check_init__(self):
        if self.latent.latent_dim != next(iter(self.generators.generators.values())).latent_dim:
            raise ValueError("the generators read latents of another size than the model's")

    def translate(
        self,
        sources: Mapping[str, Array],
        target: str,
        *,
        key: PRNGKeyArray | None = None,
        greedy: bool = False,
    ) -> Array:
        """One example of `target` from one example of each modality in `sources`."""
        latents = {name: self.latent.embed(name, x) for name, x in sources.items()}
        return self.generators.generate(target, latents, key=key, greedy=greedy)

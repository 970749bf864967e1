"""The training objective of the shared-latent model."""

import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from .._types import pair_names, Scalar
from .._validation import check_choice, check_int, check_real
from ..modalities import get_modality, registered_modalities
from ..nn import SharedLatentModel
from ._contrastive import clip_loss, siglip_loss
from ._reconstruction import decoder_loss


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """How the terms of `shared_latent_loss` are weighted.

    - `contrastive`: the weight of each pair's contrastive loss.
    - `objective`: `"clip"` (symmetric InfoNCE) or `"siglip"`.
    - `reconstruction`: a weight per modality for decoding its own latent back
        (`{"image": 0.1}`; a modality not named has none), or one weight for every
        modality of the data (default 0.1; `{}` for none).
    - `cycle`: the weight of cycle consistency: a latent of modality `a`, decoded as
        modality `b` (image or audio) and encoded again, should come back to itself.
        Off by default: it costs a quarter of a training step on a CPU.
    - `recon_batch`: reconstruction and cycle terms use only the first `recon_batch`
        rows of a batch (decoders are expensive; the contrastive terms need the whole
        batch for their negatives).
    - `anchor`: train only the contrastive pairs of this modality (ImageBind's recipe:
        with N modalities, N - 1 pairs instead of N(N - 1)/2; the pairs without it are
        aligned only through it). Default None: every pair.
    """

    contrastive: float = 1.0
    objective: str = "clip"
    reconstruction: float | Mapping[str, float] | tuple[tuple[str, float], ...] = 0.1
    cycle: float = 0.0
    recon_batch: int = 32
    anchor: str | None = None

    def __post_init__(self):
        check_real(self.contrastive, "contrastive", low=0.0)
        check_choice(self.objective, "objective", ("clip", "siglip"))
        if isinstance(self.reconstruction, bool):
            raise TypeError(
                "`reconstruction` must be a weight or a dict of weights per modality, got "
                f"{self.reconstruction!r}"
            )
        named = self._named()
        if named is None:
            check_real(self.reconstruction, "reconstruction", low=0.0)
            object.__setattr__(self, "reconstruction", float(self.reconstruction))  # pyright: ignore[reportArgumentType]
        else:
            # Stored as sorted pairs, so that the weights are hashable (a static argument).
            object.__setattr__(self, "reconstruction", tuple(sorted(named.items())))
            for name, weight in named.items():
                if isinstance(name, str):  # unregistered: an UnknownModalityError that says so
                    get_modality(name)
                check_choice(name, "reconstruction modality", registered_modalities())
                check_real(weight, f"reconstruction[{name!r}]", low=0.0)
        check_real(self.cycle, "cycle", low=0.0)
        check_int(self.recon_batch, "recon_batch")
        if self.anchor is not None:
            if isinstance(self.anchor, str) and self.anchor not in registered_modalities():
                get_modality(self.anchor)
            check_choice(self.anchor, "anchor", registered_modalities())

    def trains_pair(self, a: str, b: str) -> bool:
        """Whether the contrastive pair `(a, b)` is trained (all, or those of `anchor`)."""
        return self.anchor is None or self.anchor in (a, b)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description: the arguments of `LossWeights(**d)`."""
        named = self._named()
        return dataclasses.asdict(self) | {
            "reconstruction": self.reconstruction if named is None else named
        }

    def reconstruction_weight(self, modality: str) -> float:
        """The weight of `modality`'s reconstruction term (0 when it has none)."""
        named = self._named()
        if named is None:
            return float(self.reconstruction)  # pyright: ignore[reportArgumentType]
        return named.get(modality, 0.0)

    def _named(self) -> dict[str, float] | None:
        """The weights per modality, or None for one weight of every modality."""
        weights = self.reconstruction
        if isinstance(weights, numbers.Real):  # NumPy's scalars too
            return None
        try:
            named: dict[str, float] = dict(weights)  # pyright: ignore
            return named
        except (TypeError, ValueError):
            raise TypeError(
                "`reconstruction` must be a weight or a dict of weights per modality, got "
                f"{weights!r:.60}"
            ) from None


def reconstruction_terms(
    model: SharedLatentModel,
    latents: Mapping[str, Float[Array, "batch latent"]],
    batch: Mapping[str, Array],
    present: Mapping[str, Bool[Array, " batch"]] | None = None,
    *,
    rows: int | None = None,
) -> dict[str, Scalar]:
    """Each decoder's reconstruction loss of its own modality, from the latents, over
    the first `rows` rows (default all) where the modality is present.

    **Returns:**

    `{modality: loss}` for every modality with a decoder and latents.
    """
    terms = {}
    for name, decoder in model.decoders.items():
        if name not in latents:
            continue
        size = latents[name].shape[0]
        count = size if rows is None else min(rows, size)
        targets = batch[name][:count]
        outputs = jax.vmap(decoder.teacher_output)(latents[name][:count], targets)
        losses = jax.vmap(lambda o, t, d=decoder, n=name: decoder_loss(d, n, o, t))(
            outputs, targets
        )
        if present is None or name not in present:
            terms[name] = jnp.mean(losses)
        else:
            keep = present[name][:count].astype(losses.dtype)
            terms[name] = jnp.sum(losses * keep) / jnp.maximum(jnp.sum(keep), 1.0)
    return terms


def shared_latent_loss(
    model: SharedLatentModel,
    batch: Mapping[str, Array],
    weights: LossWeights = LossWeights(),
    present: Mapping[str, Bool[Array, " batch"]] | None = None,
) -> tuple[Scalar, dict[str, Scalar]]:
    """The loss of a `SharedLatentModel` on a batch, and each of its terms.

    **Arguments:**

    - `model`: a `SharedLatentModel`.
    - `batch`: arrays with a leading batch axis, one entry per modality (more is
        ignored).
    - `weights`: a `LossWeights`.
    - `present`: optional per-modality masks of which rows have that modality; a pair's
        contrastive term uses the rows where both are present, reconstruction the rows
        where the modality is.

    **Returns:**

    `(total, terms)`, where `terms` maps `"contrastive/a-b"` (the pairs trained:
    `weights.anchor`), `"recon/m"` and `"cycle/a->b"` to their (unweighted) values.
    """
    latents = model.embed_batch(dict(batch))
    names = tuple(latents)
    size = next(iter(latents.values())).shape[0]

    def mask(name: str) -> Bool[Array, " batch"]:
        if present is None or name not in present:
            return jnp.ones(size, bool)
        return present[name]

    terms: dict[str, Scalar] = {}
    total = jnp.zeros((), jnp.float32)
    for a, b in pair_names(names):
        if not weights.trains_pair(a, b):
            continue
        both = mask(a) & mask(b)
        i = model.pair_index(a, b)
        log_temperature = model.log_temperature[i]
        if weights.objective == "clip":
            term = clip_loss(latents[a], latents[b], log_temperature, both)
        else:
            term = siglip_loss(latents[a], latents[b], log_temperature, model.bias[i], both)
        terms[f"contrastive/{a}-{b}"] = term
        total = total + weights.contrastive * term

    rows = min(weights.recon_batch, size)
    weighted = {name: weights.reconstruction_weight(name) for name in names}
    decoded = {name: latents[name] for name, weight in weighted.items() if weight > 0}
    masks = {name: mask(name) for name in decoded}
    for name, term in reconstruction_terms(model, decoded, batch, masks, rows=rows).items():
        terms[f"recon/{name}"] = term
        total = total + weighted[name] * term

    if weights.cycle > 0:
        for a in names:
            for b in names:
                # ids (tokens) decoded greedily carry no gradient back: no cycle into them
                if a == b or get_modality(b).holds_ids or b not in model.decoders:
                    continue
                start = latents[a][:rows]
                generated = jax.vmap(lambda z: model.decode(b, z, greedy=True))(start)
                back = jax.vmap(lambda x: model.embed(b, x))(generated)
                cosine = jnp.sum(start * back, axis=-1)
                keep = mask(a)[:rows].astype(cosine.dtype)
                term = jnp.sum((1 - cosine) * keep) / jnp.maximum(jnp.sum(keep), 1.0)
                terms[f"cycle/{a}->{b}"] = term
                total = total + weights.cycle * term
    return total, terms

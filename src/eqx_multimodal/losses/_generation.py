"""The training objective of the cross-modal generators (`nn.Generators`): for every
target modality, a reconstruction from a random non-empty subset of the other
modalities, the VAE's KL term, and optionally cycle consistency."""

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._types import Scalar
from ..nn import Generators, l2_normalize, SharedLatentModel
from ._reconstruction import decoder_loss


def random_subsets(
    available: Bool[Array, "batch sources"], *, key: PRNGKeyArray
) -> Bool[Array, "batch sources"]:
    """For each row, a uniformly drawn non-empty subset of the sources, kept to the
    available ones; a row whose draw keeps none takes all its available sources.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> subsets = random_subsets(jnp.ones((1000, 2), bool), key=jr.key(0))
    >>> bool(subsets.any(axis=1).all()), sorted({tuple(r) for r in subsets.tolist()})
    (True, [(False, True), (True, False), (True, True)])

    ```
    """
    size, count = available.shape
    codes = jr.randint(key, (size,), 1, 2**count)
    bits = (codes[:, None] >> jnp.arange(count)[None, :]) & 1
    chosen = bits.astype(bool) & available
    empty = ~jnp.any(chosen, axis=1)
    return jnp.where(empty[:, None], available, chosen)


def _frozen(model: SharedLatentModel) -> SharedLatentModel:
    return jax.tree.map(lambda x: jax.lax.stop_gradient(x) if eqx.is_inexact_array(x) else x, model)


def generation_loss(
    generators: Generators,
    latents: Mapping[str, Float[Array, "batch latent"]],
    batch: Mapping[str, Array],
    present: Mapping[str, Bool[Array, " batch"]] | None = None,
    *,
    key: PRNGKeyArray,
    kl_weight: float = 0.005,
    cycle_weight: float = 0.0,
    model: SharedLatentModel | None = None,
    rows: int | None = None,
) -> tuple[Scalar, dict[str, Scalar]]:
    """The loss of the generators on a batch, and each of its terms.

    For each target modality with a generator and in `batch`, every row is made from a
    random non-empty subset of its present sources (`random_subsets`), so that every
    subset is learned; rows without the target, or with no source, count for nothing.

    **Arguments:**

    - `generators`: an `nn.Generators`.
    - `latents`: the shared latents of the batch, `{modality: (batch, latent_dim)}`
        (the caller decides whether gradients flow into the encoders).
    - `batch`: the items, `{modality: (batch, ...)}`.
    - `present`: optional per-modality masks of the rows that have the modality.
    - `key`: keyword only. Draws the subsets and the posterior samples.
    - `kl_weight`: keyword only. The weight of the KL term.
    - `cycle_weight`: keyword only. The weight of cycle consistency: a generated item,
        encoded by `model` (whose parameters get no gradient from it), should have the
        target's latent (cosine). For the targets whose decoder's teacher output is
        the item itself, of real values (an image; not the built-in audio generator's
        spectrogram, which would need Griffin-Lim in the gradient, nor text's logits);
        an error when no target has one.
    - `model`: keyword only. The shared-latent model, for cycle consistency.
    - `rows`: keyword only. Use only the first `rows` rows (default all).

    **Returns:**

    `(total, terms)`, `terms` mapping `"generate/t"`, `"kl/t"` and `"gen_cycle/t"` to
    their (unweighted) values.
    """
    if cycle_weight > 0 and model is None:
        raise ValueError("`cycle_weight` > 0 needs the shared-latent `model`")
    size = next(iter(latents.values())).shape[0]
    count = size if rows is None else min(rows, size)

    def mask(name: str) -> Bool[Array, " batch"]:
        if name not in latents:
            return jnp.zeros(count, bool)
        if present is None or name not in present:
            return jnp.ones(count, bool)
        return jnp.asarray(present[name][:count], bool)

    terms: dict[str, Scalar] = {}
    total = jnp.zeros((), jnp.float32)
    targets = [t for t in generators.generators if t in latents and t in batch]
    for target, target_key in zip(targets, jr.split(key, max(1, len(targets)))):
        generator = generators.generators[target]
        subset_key, sample_key = jr.split(target_key)
        zero = jnp.zeros((count, generator.latent_dim), jnp.float32)
        sources = jnp.stack(
            [latents[s][:count] if s in latents else zero for s in generator.sources], axis=1
        )
        available = jnp.stack([mask(s) for s in generator.sources], axis=1)
        subsets = random_subsets(available, key=subset_key)
        weight = (mask(target) & jnp.any(available, axis=1)).astype(jnp.float32)
        denominator = jnp.maximum(jnp.sum(weight), 1.0)
        items = batch[target][:count]
        outputs, kl = jax.vmap(lambda a, b, c, d, k: generator.teacher_output(a, b, c, d, key=k))(
            sources, subsets, latents[target][:count], items, jr.split(sample_key, count)
        )
        losses = jax.vmap(lambda o, t: decoder_loss(generator.decoder, target, o, t))(
            outputs, items
        )
        recon = jnp.sum(losses * weight) / denominator
        divergence = jnp.sum(kl * weight) / denominator
        terms[f"generate/{target}"] = recon
        terms[f"kl/{target}"] = divergence
        total = total + recon + kl_weight * divergence
        if cycle_weight > 0 and _makes_items(outputs, items):
            assert model is not None
            frozen = _frozen(model)
            back = jax.vmap(lambda x: frozen.embed(target, x))(outputs)
            want = jax.lax.stop_gradient(latents[target][:count])
            cosine = jnp.sum(l2_normalize(back) * l2_normalize(want), axis=-1)
            cycle = jnp.sum((1 - cosine) * weight) / denominator
            terms[f"gen_cycle/{target}"] = cycle
            total = total + cycle_weight * cycle
    if cycle_weight > 0 and targets and not any(t.startswith("gen_cycle/") for t in terms):
        raise ValueError(
            "`cycle_weight` > 0 (--cycle with --generation) needs a generator whose decoder "
            f"makes its item (real values); none of {targets}'s does (use 0)"
        )
    return total, terms


def _makes_items(outputs: Any, items: Array) -> bool:
    """Whether a decoder's teacher `outputs` are `items` themselves (real values of their
    shape), so that they can be encoded again."""
    return (
        jax.tree.structure(outputs) == jax.tree.structure(items)
        and outputs.shape == items.shape
        and jnp.issubdtype(outputs.dtype, jnp.floating)
        and jnp.issubdtype(items.dtype, jnp.floating)
    )

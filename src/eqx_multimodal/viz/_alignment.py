"""The alignment report: measured dependence on the latent, for each alignment strength."""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_alignments, check_int, check_key
from ..guide import alignment_dependence, GUIDE_MEASURED, synthetic_batch, SyntheticConfig
from ._figure import DEFAULT_ALIGNMENTS, new_figure, save


# The alignment is a leaf of the configuration, so every alignment shares one compilation.
_dependence = eqx.filter_jit(alignment_dependence)


def correlation_with_clean(item: Array, clean: Array) -> Float[Array, ""]:
    """The dependence on the latent of an item of a modality the guide has no measure
    for (one of yours, rendered by its `Modality.render`): the correlation of its values
    with the same item rendered at alignment 1 from the same latent and key (0 when
    either is constant)."""
    a = jnp.ravel(item).astype(jnp.float32)
    b = jnp.ravel(clean).astype(jnp.float32)
    a, b = a - jnp.mean(a), b - jnp.mean(b)
    denominator = jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b))
    return jnp.where(
        denominator > 0, jnp.sum(a * b) / jnp.where(denominator > 0, denominator, 1.0), 0.0
    )


@eqx.filter_jit
def _own_dependence(batch: dict[str, Array], clean: dict[str, Array]) -> dict[str, Array]:
    return {m: jnp.mean(jax.vmap(correlation_with_clean)(batch[m], clean[m])) for m in clean}


def alignment_sweep(
    alignments: Sequence[float] = DEFAULT_ALIGNMENTS,
    *,
    key: PRNGKeyArray,
    config: SyntheticConfig | None = None,
    num_samples: int = 256,
) -> dict[float, dict[str, float]]:
    """Measure how strongly each modality depends on its latent, at each alignment.

    Every alignment renders the same `num_samples` latents with the same noise (items
    `0 .. num_samples - 1` of `key`), so the rows differ only by the alignment.

    **Arguments:**

    - `alignments`: distinct strengths in [0, 1].
    - `key`: keyword only. The key of the samples.
    - `config`: keyword only. The data's configuration (its alignment is replaced);
        default `SyntheticConfig()`.
    - `num_samples`: keyword only. Samples measured at each alignment.

    **Returns:**

    `{alignment: {modality: dependence}}`, with `guide.alignment_dependence` as the
    measure: about 0 at alignment 0, rising to 1 (for image and audio) at 1. A modality
    of yours (rendered by its `Modality.render`) is measured by `correlation_with_clean`:
    1 at alignment 1.

    ```python
    >>> import jax.random as jr
    >>> config = SyntheticConfig(modalities=["image"], image_shape=(8, 8, 1))
    >>> sweep = alignment_sweep([0.0, 1.0], key=jr.key(0), config=config, num_samples=32)
    >>> round(sweep[1.0]["image"], 2)
    1.0

    ```
    """
    values = check_alignments(alignments)
    check_key(key)
    config = SyntheticConfig() if config is None else config
    indices = jnp.arange(check_int(num_samples, "num_samples"), dtype=jnp.int32)
    own = [m for m in config.modalities if m not in GUIDE_MEASURED]
    clean = {}
    if own:
        clean_config = config.replace(modalities=own, alignment=1.0)  # keys are per modality
        batch = synthetic_batch(indices, key=key, config=clean_config)
        clean = {m: batch[m] for m in own}
    sweep = {}
    for alignment in values:
        aligned = config.replace(alignment=alignment)
        batch = synthetic_batch(indices, key=key, config=aligned)
        dependence = {**_dependence(batch, aligned), **_own_dependence(batch, clean)}
        sweep[alignment] = {m: float(dependence[m]) for m in config.modalities}
    return sweep


def alignment_figure(
    sweep: Mapping[float, Mapping[str, float]],
    *,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Any:
    """Plot an `alignment_sweep`: the dependence of each modality against the alignment.

    **Arguments:**

    - `sweep`: the result of `alignment_sweep`.
    - `path`: keyword only. Where to write the figure as a PNG (6 x 4 in), if anywhere.
    - `dpi`: keyword only. Pixels an inch.

    **Returns:**

    The matplotlib `Figure`.
    """
    if not sweep:
        raise ValueError("`sweep` is empty; make one with `alignment_sweep`")
    alignments = sorted(sweep)
    modalities = list(dict.fromkeys(m for a in alignments for m in sweep[a]))
    figure = new_figure(6.0, 4.0, dpi=check_int(dpi, "dpi"))
    ax = figure.add_subplot()
    for modality in modalities:
        values = [sweep[a].get(modality, float("nan")) for a in alignments]
        ax.plot(alignments, values, marker="o", label=modality)
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlabel("alignment strength")
    ax.set_ylabel("dependence on the latent (correlation)")
    ax.set_title("How much of each modality the latent explains")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return save(figure, path)

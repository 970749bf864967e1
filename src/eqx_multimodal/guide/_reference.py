"""Reference coherence on the built-in synthetic data: does a generated item point back
to the real source it was made from, by the observation-only scorers?"""

from collections.abc import Mapping, Sequence
from typing import Any

import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from .._validation import check_choice, check_int, check_key
from ..metrics._retrieval import retrieval_metrics_from_scores
from ..nn import GenerativeModel
from ..training import translate
from ..training._generation_eval import direction_name, directions
from ._ceilings._cross import _check_items, observation_scores
from ._ceilings._scores import _check_config


_MODALITIES = ("image", "text", "audio")


def _item_ndim(modality: str) -> int:
    return 3 if modality == "image" else 1


def _recalls(scores: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    metrics = retrieval_metrics_from_scores(scores, tuple(ks))
    return {f"recall@{k}": metrics[f"recall@{k}"] for k in ks}


def reference_coherence(
    generated: Any,
    sources: Any,
    *,
    source: str,
    target: str,
    config: Any,
    key: PRNGKeyArray,
    real_targets: Any = None,
    ceiling: Mapping[str, float] | None = None,
    ks: Sequence[int] = (1, 10),
    shortlist: int = 25,
    restarts: int = 16,
    steps: int = 12,
    progress: bool = False,
) -> dict[str, float]:
    """Reference coherence of generation `source -> target` on the built-in synthetic
    data: each generated item, made from real source `i`, is scored against all N real
    held-out sources with the observation-only scorers of `ceiling_scores` (the same
    likelihood, ratio, as for that ordered pair: `observation_scores` with pair
    `"target->source"`), and recall@k is the share of generated items whose own source
    ranks in the top k (ties count against it).

    A generated image from clip `i` is scored against the tone sets of all N clips, a
    generated caption against the images' latent posteriors, and so on. The ceiling is
    the same scorers on the real pairs: real target `i` against the same N sources,
    what a perfect generator (one that draws from the data's own conditional) reaches.

    **Arguments:**

    - `generated`: `(N, *item)` generated items of `target`, or `(N, K, *item)` with K
        samples per source (each sample is scored; recalls are averaged over them).
    - `sources`: `(N, *item)` the real sources of `source`, or a batch (a mapping such
        as `synthetic_batch` returns) holding them under `source` and the real targets
        under `target`.
    - `source`, `target`: keyword only. Different modalities of `"image"`, `"text"`,
        `"audio"`.
    - `config`: keyword only. The data's `SyntheticConfig` (alignment in (0, 1]).
    - `key`: keyword only. The key of the scorers' fits, searches and sampler.
    - `real_targets`: keyword only. `(N, *item)` the real targets, if `sources` is an
        array.
    - `ceiling`: keyword only. The ceiling's recalls if already known (for example
        `achievable_retrieval(config, N, seed)["pairs"]["target->source"]` of the same
        gallery); then the real targets are not needed.
    - `ks`: keyword only. The k of recall@k.
    - `shortlist`, `restarts`, `steps`, `progress`: keyword only. As in
        `ceiling_scores`.

    **Returns:**

    `{"recall@k": ..., "ceiling_recall@k": ...}` for each k.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.data import synthetic_batch, SyntheticConfig
    >>> config = SyntheticConfig(alignment=0.8, seq_length=20)
    >>> batch = synthetic_batch(jnp.arange(4), key=jr.key(0), config=config)
    >>> copied = batch["text"]  # a "generator" that returns the real caption
    >>> reference_coherence(copied, batch, source="audio", target="text", config=config,
    ...                     key=jr.key(1), ks=(1,))
    {'recall@1': ..., 'ceiling_recall@1': ...}

    ```
    """
    config = _check_config(config)
    key = check_key(key)
    check_choice(source, "source", _MODALITIES)
    check_choice(target, "target", _MODALITIES)
    if source == target:
        raise ValueError(f"`source` and `target` must differ, got {source!r} for both")
    ks = tuple(check_int(k, "ks") for k in ks)
    if isinstance(sources, Mapping):
        if source not in sources:
            raise ValueError(f"`sources` must hold {source!r} items, got {sorted(sources)}")
        if real_targets is None and target in sources:
            real_targets = sources[target]
        sources = sources[source]
    real = _check_items(sources, source, config, "sources")
    n = real.shape[0]
    array = np.asarray(generated)
    extra = array.ndim - _item_ndim(target)
    if extra == 1:
        array = array[:, None]
    elif extra != 2:
        raise ValueError(
            f"`generated` must be {target} items (N, ...) or (N, K, ...), got shape {array.shape}"
        )
    if array.shape[0] != n or array.shape[1] == 0:
        raise ValueError(
            f"`generated` must hold one item (or K >= 1 samples) per source, {n} sources, got "
            f"shape {array.shape}"
        )
    samples = array.shape[1]
    flat = _check_items(array.reshape(n * samples, *array.shape[2:]), target, config, "generated")
    pair = f"{target}->{source}"
    options: dict[str, Any] = dict(
        shortlist=shortlist, restarts=restarts, steps=steps, progress=progress
    )
    # One key for both: a generator that returns the real targets scores the ceiling.
    out: dict[str, float] = {}
    recalls = []
    for s in range(samples):
        scores = observation_scores(
            flat[s::samples], real, pair=pair, config=config, key=key, **options
        )
        recalls.append(_recalls(scores, ks))
    for k in ks:
        out[f"recall@{k}"] = float(np.mean([r[f"recall@{k}"] for r in recalls]))
    if ceiling is None:
        if real_targets is None:
            raise ValueError(
                f"reference_coherence needs the real {target} items for its ceiling: pass "
                f"`sources` as a batch holding {target!r}, `real_targets`, or `ceiling`"
            )
        truth = _check_items(real_targets, target, config, "real_targets")
        if truth.shape[0] != n:
            raise ValueError(
                f"`real_targets` must hold one item per source ({n}), got {truth.shape[0]}"
            )
        scores = observation_scores(truth, real, pair=pair, config=config, key=key, **options)
        ceiling = _recalls(scores, ks)
    for k in ks:
        name = f"recall@{k}"
        if name not in ceiling:
            raise ValueError(f"`ceiling` must hold {name!r}, got {sorted(ceiling)}")
        out[f"ceiling_{name}"] = float(ceiling[name])
    return out


def evaluate_reference_coherence(
    model: GenerativeModel,
    config: Any,
    *,
    gallery: int,
    key: PRNGKeyArray,
    items: Mapping[str, Any],
    temperature: float = 1.0,
    progress: Any = None,
) -> dict[str, dict[str, float]]:
    """Reference coherence (`reference_coherence`) of the six one-source directions
    among the guide's modalities on a held-out synthetic gallery: each generated item
    (one sample at `temperature`, see `training.translate`) scored against all `gallery`
    real sources by the observation-only scorers, beside their ceiling on the real
    pairs. A modality of yours in the run has no reference here (the scorers know the
    guide's)."""
    check_int(gallery, "gallery", minimum=2)
    out = {}
    # The guide's scorers know its own modalities; one of yours has no reference here.
    modalities = [m for m in model.latent.modalities if m in items and m in _MODALITIES]
    for i, (sources, target) in enumerate(directions(modalities, (1,))):
        (source,) = sources
        if target not in model.generators.generators:
            continue
        name = direction_name(sources, target)
        if progress:
            progress(f"reference coherence {name}")
        generate_key, score_key = jr.split(jr.fold_in(key, i))
        made = translate(
            model,
            {source: items[source]},
            target=target,
            key=generate_key,
            temperature=temperature,
        )
        out[name] = reference_coherence(
            made[:, 0],
            np.asarray(items[source]),
            source=source,
            target=target,
            config=config,
            key=score_key,
            real_targets=np.asarray(items[target]),
        )
    return out

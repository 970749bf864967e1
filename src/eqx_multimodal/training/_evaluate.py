"""Evaluation of a shared-latent model: retrieval for every ordered pair of modalities,
label-level retrieval and zero-shot classification when the data has labels, and the
reconstruction loss of each decoder."""

from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from .._validation import check_int, check_real
from ..data import PairedDataset, PairedFolder, Tokenizer
from ..data._spec import has_vocabulary
from ..losses import reconstruction_terms
from ..metrics import (
    label_precision,
    retrieval_metrics,
    retrieval_metrics_from_scores,
    zero_shot_accuracy,
)
from ..modalities import get_modality
from ..nn import SharedLatentModel
from ._data_config import AbstractDataConfig
from ._rerank import AbstractReranker, bucket


#: At most this many items are embedded at a time (padded to a power of two, so that a
#: few compilations serve every gallery).
CHUNK = 256


@eqx.filter_jit
def _embed(model: SharedLatentModel, batch: dict[str, Array]) -> dict[str, Array]:
    return model.embed_batch(batch)


def embed(
    model: SharedLatentModel, items: dict[str, Any], *, chunk: int = CHUNK
) -> dict[str, np.ndarray]:
    """The latents of every modality of the model in `items` (arrays with a leading
    axis), computed `chunk` items at a time.

    **Returns:**

    `{modality: (N, latent_dim) NumPy array}`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig, synthetic_batch
    >>> config = SyntheticConfig(modalities=["text"])
    >>> model = SharedLatentModel(config, latent_dim=8, decoders=False, key=jr.key(0))
    >>> items = synthetic_batch(jnp.arange(5), key=jr.key(1), config=config)
    >>> embed(model, items)["text"].shape
    (5, 8)

    ```
    """
    names, size = _check_items(model, items)
    if not names:
        return {}
    if size == 0:
        return {m: np.zeros((0, model.latent_dim), np.float32) for m in names}
    chunk = bucket(size, check_int(chunk, "chunk"))
    parts: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for start in range(0, size, chunk):
        stop = min(start + chunk, size)
        rows = np.arange(start, start + chunk) % size  # padded with repeats, then cut
        batch = {m: jnp.asarray(np.asarray(items[m])[rows]) for m in names}
        latents = _embed(model, batch)
        for m in names:
            parts[m].append(np.asarray(latents[m])[: stop - start])
    return {m: np.concatenate(parts[m]) for m in names}


def _check_items(model: SharedLatentModel, items: Any) -> tuple[list[str], int]:
    """`embed`'s items: a dict whose arrays of the model's modalities share their first
    axis, with finite images and audio and token ids in the model's vocabulary (a NaN
    would make NaN latents, an id out of range would silently read a clamped row)."""
    if not isinstance(items, Mapping):
        raise TypeError(f"`items` must be a dict of arrays by modality, got {items!r:.60}")
    names = [m for m in model.modalities if m in items]
    arrays = {m: np.asarray(items[m]) for m in names}
    sizes = {m: (a.shape[0] if a.ndim else None) for m, a in arrays.items()}
    if any(n is None for n in sizes.values()) or len(set(sizes.values())) > 1:
        shapes = {m: a.shape for m, a in arrays.items()}
        raise ValueError(
            f"`items` must hold arrays with one leading axis of items, the same for every "
            f"modality, got shapes {shapes}"
        )
    for m, values in arrays.items():
        if get_modality(m).holds_ids:  # text's tokens, or ids of yours
            if values.dtype.kind not in "iu":
                raise TypeError(f"`items['{m}']` must hold integer token ids, got {values.dtype}")
            vocab = _vocab_size(model.encoders[m])
            if values.size and (values.min() < 0 or (vocab is not None and values.max() >= vocab)):
                within = (
                    "non-negative" if vocab is None else f"in the model's vocabulary [0, {vocab})"
                )
                raise ValueError(
                    f"`items['{m}']` holds token ids {values.min()}..{values.max()}; they must "
                    f"be {within}"
                )
        elif values.dtype.kind == "f" and not np.isfinite(values).all():
            bad = int((~np.isfinite(values.reshape(len(values), -1))).any(axis=1).sum())
            raise ValueError(
                f"`items['{m}']`: {bad} of {len(values)} items hold NaN or infinite values"
            )
    return names, next(iter(sizes.values()), 0) or 0


def _vocab_size(encoder: Any) -> int | None:
    """Rows of a text encoder's token table, when it has one."""
    for name in ("token_embedding", "embedding"):
        table = getattr(encoder, name, None)
        if isinstance(table, eqx.nn.Embedding):
            return table.num_embeddings
        if isinstance(table, jax.Array) and table.ndim == 2:
            return table.shape[0]
    return None


def non_finite(latents: dict[str, np.ndarray]) -> str | None:
    """What is not finite in `latents` (`embed`'s), or None when every value is."""
    for m, values in latents.items():
        bad = ~np.all(np.isfinite(values), axis=-1)
        if bad.any():
            return f"the {m} embeddings of {int(bad.sum())} of {bad.size} items are NaN or infinite"
    return None


def _items(data: Any, gallery: int | None, key: PRNGKeyArray | None) -> tuple[dict, dict]:
    """The arrays to evaluate on, and what to record about them."""
    if isinstance(data, AbstractDataConfig):
        if gallery is None or key is None:
            raise ValueError("evaluating on synthetic data needs a `gallery` size and a `key`")
        check_int(gallery, "gallery", minimum=2)  # one item retrieves nothing
        items = data.gallery(gallery, key=key)
        return items, {"gallery": gallery, **data.evaluation_record()}
    if isinstance(data, PairedFolder):
        data = data.load()
    if not isinstance(data, PairedDataset):
        raise TypeError(
            f"`data` must be a data config (such as a SyntheticConfig), a PairedDataset or a "
            f"PairedFolder, got {data!r:.80}"
        )
    items = {k: jax.tree.map(np.asarray, v) for k, v in data[:].items() if k != "pairs"}
    return items, {"gallery": len(data)}


def evaluate(
    model: SharedLatentModel,
    data: AbstractDataConfig | PairedDataset | PairedFolder,
    *,
    gallery: int | None = None,
    key: PRNGKeyArray | None = None,
    modalities: Sequence[str] | None = None,
    tokenizer: Tokenizer | None = None,
    reconstruction_items: int = 128,
    reranker: AbstractReranker | None = None,
    rerank_top: int | None = None,
    rerank_weight: float | None = None,
) -> dict[str, Any]:
    """Evaluate a model on held-out data.

    **Arguments:**

    - `model`: a `SharedLatentModel`.
    - `data`: a data config such as the guide's `SyntheticConfig` (a gallery of
        `gallery` items of the stream `key` is made), or a dataset of your own
        (`PairedDataset`, `PairedFolder`): every sample.
    - `gallery`, `key`: keyword only. For synthetic data.
    - `modalities`: keyword only. Which of the model's modalities to evaluate (default
        all).
    - `tokenizer`: keyword only. The run's tokenizer: with labels, the label names are
        embedded as items of the modality of ids it makes (the one such modality, or the
        one with a vocabulary in the spec, the built-in text) for zero-shot
        classification.
    - `reconstruction_items`: keyword only. The reconstruction losses use the first
        this many items (decoding is expensive); recorded in the result.
    - `reranker`: keyword only. A second stage of retrieval (`AbstractReranker`, e.g.
        the guide's `guide.SetReranker` for the `"sets"` towers): for each ordered pair
        it declares for the model, each query's `rerank_top` best two-tower candidates
        are re-scored by it, with `rerank_weight` times the two-tower logit beside its
        own score; `rerank_top=0` turns it off (`rerank_weight=0` keeps it, ranking by
        the re-ranker alone). Default none.
    - `rerank_top`, `rerank_weight`: keyword only. See `reranker` (default 64 and 1;
        given without a `reranker` they are refused, as they would do nothing).

    **Returns:**

    `{"retrieval": {"a->b": {"recall@1", "recall@5", "recall@10", "median_rank"}},
    "reconstruction": {modality: loss}, "reconstruction_items", "gallery", "pairs":
    {"a->b": items used}}`, plus `"alignment"` for synthetic data, and
    `"label_retrieval": {"a->b": {"precision@1"}}` and `"zero_shot": {modality:
    accuracy}` when the data has labels. A pair uses the items that have both
    modalities. Re-ranked pairs also keep their two-tower figures under
    `"retrieval_two_tower"`.
    """
    if reranker is None and (rerank_top is not None or rerank_weight is not None):
        given = "rerank_top" if rerank_top is not None else "rerank_weight"
        raise ValueError(
            f"`{given}` does nothing without a `reranker` (e.g. "
            '`reranker=eqx_multimodal.guide.SetReranker()` for the "sets" towers)'
        )
    rerank_top = check_int(64 if rerank_top is None else rerank_top, "rerank_top", minimum=0)
    rerank_weight = check_real(
        1.0 if rerank_weight is None else rerank_weight, "rerank_weight", low=0.0
    )
    chosen = model.modalities if modalities is None else tuple(modalities)
    unknown = [m for m in chosen if m not in model.modalities]
    if unknown:
        raise ValueError(
            f"the model was not trained on {unknown} (it has {list(model.modalities)})"
        )
    if len(chosen) < 2 and not any(m in model.decoders for m in chosen):
        raise ValueError(
            f"`modalities` must name two or more modalities to retrieve between (or one "
            f"the model has a decoder for), got {list(chosen)}"
        )
    items, record = _items(data, gallery, key)
    missing = [m for m in chosen if m not in items]
    if missing:
        raise ValueError(f"the data has no {missing}; it has {sorted(items)}")
    latents = embed(model, {m: items[m] for m in chosen})
    problem = non_finite(latents)
    if problem is not None:
        raise ValueError(
            f"{problem}: the model is not usable (a checkpoint of a diverged run?); "
            "evaluate an earlier checkpoint, or retrain with a lower learning rate"
        )
    size = len(next(iter(latents.values())))
    present = items.get("present", {})
    has = {m: np.asarray(present.get(m, np.ones(size, bool))) for m in chosen}
    result: dict[str, Any] = {"retrieval": {}, "pairs": {}}
    reranked = set() if reranker is None or rerank_top == 0 else set(reranker.pairs(model))
    prepared: dict[str, Any] = {}
    for a in chosen:
        for b in chosen:
            if a == b:
                continue
            rows = np.flatnonzero(has[a] & has[b])
            result["pairs"][f"{a}->{b}"] = int(rows.size)
            if rows.size < 2:
                continue
            pair = f"{a}->{b}"
            result["retrieval"][pair] = retrieval_metrics(
                jnp.asarray(latents[a][rows]), jnp.asarray(latents[b][rows])
            )
            if reranker is not None and (a, b) in reranked:
                # A pair and its reverse share their rows: prepared once for both.
                cached = (frozenset((a, b)), rows.tobytes())
                if prepared.get("for") != cached:
                    subset = {m: np.asarray(items[m])[rows] for m in (a, b)}
                    prepared = {"for": cached, "value": reranker.prepare(model, subset)}
                scores = np.asarray(latents[a][rows] @ latents[b][rows].T)
                rescored = reranker.rescore(
                    model, prepared["value"], scores, a, b, top=rerank_top, weight=rerank_weight
                )
                result.setdefault("retrieval_two_tower", {})[pair] = result["retrieval"][pair]
                result["retrieval"][pair] = retrieval_metrics_from_scores(rescored)
    if "label" in items:
        labels = np.asarray(items["label"])
        result["label_retrieval"] = {
            f"{a}->{b}": label_precision(
                latents[a][has[a]], latents[b][has[b]], labels[has[a]], labels[has[b]]
            )
            for a in chosen
            for b in chosen
            if a != b
        }
        names = getattr(data, "label_names", None)
        # The tokenizer makes the items of the one modality of ids, or of the one whose
        # spec has a vocabulary (the built-in text) when there are several.
        of_ids = [m for m in chosen if get_modality(m).holds_ids]
        if len(of_ids) > 1:
            of_ids = [m for m in of_ids if has_vocabulary(m)]
        if names and tokenizer is not None and len(of_ids) == 1:
            (captions,) = of_ids
            texts = np.stack([tokenizer.encode(name)[0] for name in names])
            classes = embed(model, {captions: texts})[captions]
            result["zero_shot"] = {
                m: zero_shot_accuracy(latents[m][has[m]], classes, labels[has[m]])["accuracy"]
                for m in chosen
                if m != captions
            }
            result["label_names"] = list(names)
    head = {
        m: jnp.asarray(np.asarray(items[m])[:reconstruction_items])
        for m in chosen
        if m in model.decoders
    }
    if head:
        head_latents = _embed(model, head)
        head_present = {m: jnp.asarray(has[m][:reconstruction_items]) for m in head}
        terms = eqx.filter_jit(reconstruction_terms)(model, head_latents, head, head_present)
        result["reconstruction"] = {m: float(v) for m, v in terms.items()}
    else:
        result["reconstruction"] = {}
    result["reconstruction_items"] = min(reconstruction_items, size)
    result.update(record)
    return result

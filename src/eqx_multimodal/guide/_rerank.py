"""Re-ranking the two-tower top-k of image <-> audio retrieval with a likelihood verifier.

A two-tower model scores every pair by one dot product, which can express a set
likelihood only in a factorised form (each grating matched to the tones on its own). For
the image <-> audio pair of the `"sets"` towers a second stage re-scores each query's
`top` candidates with `guide.towers.grating_log_likelihood`: the image's joint Gaussian
log-likelihood ratio when its gratings take their phases and relative amplitudes from the
audio's tones under the best assignment found (parameter-free, from the front ends the
towers already run), plus `weight` times the two-tower logit (the score times the pair's
learned inverse temperature; both are log-likelihoods in nats). The re-ranked candidates
go first, the rest keep the two-tower order: the image-audio analogue of geometric
verification in image retrieval, or of the matching head that re-ranks ALBEF's and
BLIP's two-tower top-k.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..nn import SharedLatentModel
from ..training import AbstractReranker
from ..training._rerank import bucket
from .towers import grating_log_likelihood, GratingSetEncoder, ToneSetEncoder


#: The pairs the verifier re-scores (the guide's image and audio).
PAIRS = (("image", "audio"), ("audio", "image"))


def can_rerank(model: SharedLatentModel, a: str, b: str) -> bool:
    """Whether the ordered pair `a -> b` of `model` has a verifier (image <-> audio with
    the `"sets"` towers)."""
    return (
        {a, b} == {"image", "audio"}
        and isinstance(model.encoders.get("image"), GratingSetEncoder)
        and isinstance(model.encoders.get("audio"), ToneSetEncoder)
    )


@eqx.filter_jit
def _fronts(encoder: Any, examples: Array) -> Any:
    return jax.vmap(encoder.front)(examples)


def gallery_fronts(
    model: SharedLatentModel, items: dict[str, Any], chunk: int = 256
) -> dict[str, Any]:
    """The image fits and audio tone sets of a gallery (for `reranked_scores`)."""
    out = {}
    for name in ("image", "audio"):
        examples = np.asarray(items[name])
        size = examples.shape[0]
        rows_at_once = bucket(size, chunk)
        parts = []
        for start in range(0, size, rows_at_once):
            rows = np.arange(start, start + rows_at_once) % size  # padded: few compilations
            front = _fronts(model.encoders[name], jnp.asarray(examples[rows]))
            parts.append(jax.tree.map(lambda v, n=min(rows_at_once, size - start): v[:n], front))
        out[name] = jax.tree.map(lambda *v: jnp.concatenate(v), *parts)
    return out


@eqx.filter_jit
def _verify(encoder: GratingSetEncoder, fits: Any, tones: Any) -> Array:
    size = encoder.image_shape[:2]
    return jax.vmap(
        lambda f, t: grating_log_likelihood(f, t, encoder.frequencies, image_size=size)
    )(fits, tones)


def reranked_scores(
    model: SharedLatentModel,
    fronts: dict[str, Any],
    scores: Float[np.ndarray, "queries gallery"],
    a: str,
    *,
    top: int,
    weight: float,
    chunk: int = 8192,
) -> np.ndarray:
    """The scores of `a -> b` (`scores` from the two towers, queries of modality `a`,
    one of image and audio) with each query's `top` candidates re-scored and placed
    first, in the verifier's order."""
    queries, size = scores.shape
    top = min(top, size)
    candidates = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    query = np.repeat(np.arange(queries), top)
    candidate = candidates.reshape(-1)
    image, audio = (query, candidate) if a == "image" else (candidate, query)
    encoder = model.encoders["image"]
    assert isinstance(encoder, GratingSetEncoder), "can_rerank checks the towers"
    chunk = bucket(len(query), chunk)
    values = []
    for start in range(0, len(query), chunk):
        rows = np.arange(start, start + chunk) % len(query)  # padded: one compilation
        fits = jax.tree.map(lambda v: v[image[rows]], fronts["image"])
        tones = jax.tree.map(lambda v: v[audio[rows]], fronts["audio"])
        verified = np.asarray(_verify(encoder, fits, tones), np.float64)
        values.append(verified[: min(chunk, len(query) - start)])
    verified = np.concatenate(values).reshape(queries, top)
    out = np.asarray(scores, np.float64).copy()
    b = "audio" if a == "image" else "image"
    inverse_temperature = float(np.exp(np.asarray(model.log_temperature)[model.pair_index(a, b)]))
    combined = verified + weight * inverse_temperature * np.take_along_axis(out, candidates, 1)
    # A degenerate fit (NaN) goes last among the re-ranked; ties keep the towers' order.
    combined = np.where(np.isnan(combined), -np.inf, combined)
    ordered = np.take_along_axis(candidates, np.argsort(-combined, axis=1, kind="stable"), 1)
    finite = out[np.isfinite(out)]
    offset = (np.abs(finite).max() if finite.size else 0.0) + 2.0 * top + 1.0
    np.put_along_axis(out, ordered, offset + np.arange(top, 0, -1, dtype=np.float64), axis=1)
    return out


class SetReranker(AbstractReranker):
    """The guide's re-ranker of image <-> audio retrieval with the `"sets"` towers: each
    query's top candidates re-scored by the likelihood verifier
    (`guide.towers.grating_log_likelihood`) plus `weight` times the two-tower logit. It declares
    no pair for a model without the sets towers of image and audio.

    ```python
    >>> import jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig
    >>> from eqx_multimodal.nn import SharedLatentModel
    >>> config = SyntheticConfig(modalities=["image", "audio"])
    >>> model = SharedLatentModel(config, latent_dim=8, d_model=8, decoders=False, key=jr.key(0))
    >>> SetReranker().pairs(model)
    (('image', 'audio'), ('audio', 'image'))

    ```
    """

    def pairs(self, model: SharedLatentModel) -> tuple[tuple[str, str], ...]:
        return tuple(p for p in PAIRS if can_rerank(model, *p))

    def prepare(self, model: SharedLatentModel, items: dict[str, np.ndarray]) -> Any:
        return gallery_fronts(model, items)

    def rescore(
        self,
        model: SharedLatentModel,
        prepared: Any,
        scores: Float[np.ndarray, "queries gallery"],
        query: str,
        gallery: str,
        *,
        top: int,
        weight: float,
    ) -> np.ndarray:
        return reranked_scores(model, prepared, scores, query, top=top, weight=weight)

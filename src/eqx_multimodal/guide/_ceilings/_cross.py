"""The ceilings' scorers on two different sets: queries of one modality against a
gallery of another (generated items against the real sources they were made from)."""

from typing import Any

import jax.random as jr
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..._validation import check_int, check_key
from .._synthetic_config import SyntheticConfig
from ._audio import audio_tone_set
from ._common import _check_alignment, CEILING_PAIRS
from ._image import fit_image_gratings, image_statistics
from ._posterior import image_latent_posterior
from ._scores import (
    _check_config,
    _image_audio_log_likelihood,
    _text_audio_scores,
    _text_image_scores,
)
from ._text import _text_prior, token_counts


def _check_items(items: Any, modality: str, config: SyntheticConfig, name: str) -> np.ndarray:
    """Items of the configuration's shape for `modality`, finite, as a NumPy array."""
    array = np.asarray(items)
    if modality == "image":
        shape = tuple(config.image_shape)
    elif modality == "text":
        shape = (config.seq_length,)
    else:
        shape = (config.num_audio_samples,)
    if array.ndim != len(shape) + 1 or tuple(array.shape[1:]) != shape or array.shape[0] == 0:
        raise ValueError(
            f"`{name}` must be {modality} items (n, {', '.join(map(str, shape))}) of the "
            f"configuration, got shape {array.shape}"
        )
    if modality == "text":
        if not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"`{name}` must be integer token ids, got dtype {array.dtype}")
        if array.min() < 0 or array.max() >= config.vocab_size:
            raise ValueError(
                f"`{name}` token ids must be in [0, {config.vocab_size}), got "
                f"[{int(array.min())}, {int(array.max())}]"
            )
    else:
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"`{name}` must be float {modality} items, got dtype {array.dtype}")
        bad = int(np.sum(~np.isfinite(array)))
        if bad:
            raise ValueError(f"`{name}` holds {bad} NaN/inf values")
    return array


def observation_scores(
    queries: np.ndarray | Array,
    gallery: np.ndarray | Array,
    *,
    pair: str,
    config: SyntheticConfig,
    key: PRNGKeyArray,
    shortlist: int = 25,
    restarts: int = 16,
    steps: int = 12,
    progress: bool = False,
) -> np.ndarray:
    """Score query items of one modality against gallery items of another with the
    observation-only scorers of `ceiling_scores`, the two sets given apart (for
    example generated images against the real clips they were made from):
    `scores[i, j]` scores query `i` against gallery item `j`, higher is better.

    Each ordered pair uses the same likelihood (ratio) as `ceiling_scores` (see there):
    with the gallery's own items as queries and the same key the scores are
    `ceiling_scores(gallery)[pair]`, bit for bit.

    **Arguments:**

    - `queries`: `(n, ...)` items of the pair's first modality.
    - `gallery`: `(m, ...)` items of its second modality.
    - `pair`: keyword only. `"query->gallery"`, one of `CEILING_PAIRS`.
    - `config`: keyword only. The `SyntheticConfig` of the data (alignment in (0, 1]).
    - `key`: keyword only. The key of the fits, searches and sampler.
    - `shortlist`, `restarts`, `steps`: keyword only. Of the image-audio search.
    - `progress`: keyword only. Progress bars.

    **Returns:**

    float64 scores `(n, m)`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal.data import synthetic_batch, SyntheticConfig
    >>> config = SyntheticConfig(alignment=0.8, seq_length=20)
    >>> batch = synthetic_batch(jnp.arange(3), key=jr.key(0), config=config)
    >>> observation_scores(batch["text"], batch["audio"], pair="text->audio",
    ...                    config=config, key=jr.key(1)).shape
    (3, 3)

    ```
    """
    config = _check_config(config)
    key = check_key(key)
    if pair not in CEILING_PAIRS:
        raise ValueError(f"`pair` must be one of {CEILING_PAIRS}, got {pair!r}")
    check_int(shortlist, "shortlist", minimum=0)
    check_int(restarts, "restarts", minimum=0)
    check_int(steps, "steps", minimum=0)
    a = _check_alignment(float(np.asarray(config.alignment)), allow_zero=False)
    q_mod, g_mod = pair.split("->")
    queries = _check_items(queries, q_mod, config, "queries")
    gallery = _check_items(gallery, g_mod, config, "gallery")
    # The keys of `ceiling_scores`, so that the two agree on the same items.
    fit_key, search_key, sample_key = jr.split(key, 3)
    items = {"query": queries, "gallery": gallery}
    role = {q_mod: "query", g_mod: "gallery"}

    def tones(which: str) -> np.ndarray:
        return audio_tone_set(
            items[which], a, sample_rate=config.sample_rate, duration=config.duration
        ).values

    def image(which: str):
        stats = image_statistics(items[which])
        return stats, fit_image_gratings(stats, key=fit_key)

    def text(which: str):
        tokens = items[which]
        prior = _text_prior(a, int(tokens.shape[-1]), config.vocab_size, config.latent_dim)
        counts = token_counts(tokens, config.latent_dim)[:, : prior.groups]
        marginal = prior.log_f(prior.phi(counts, 0), np.full(counts.shape[0], -np.inf))
        return prior, counts, marginal

    if {q_mod, g_mod} == {"image", "audio"}:
        stats, fit = image(role["image"])
        ll = _image_audio_log_likelihood(
            stats, fit, tones(role["audio"]), key=search_key, shortlist=shortlist,
            restarts=restarts, steps=steps, progress=progress,
        )  # fmt: skip
        if q_mod == "image":
            return ll
        return (ll - fit.log_likelihood[:, None]).T.copy()
    prior, counts, marginal = text(role["text"])
    if "audio" in (q_mod, g_mod):
        ta = _text_audio_scores(prior, counts, tones(role["audio"]), progress)
        return ta if q_mod == "text" else (ta - marginal[:, None]).T.copy()
    stats, fit = image(role["image"])
    posterior = image_latent_posterior(stats, key=sample_key, fit=fit)
    ti = _text_image_scores(prior, counts, posterior, progress)
    return ti if q_mod == "text" else (ti - marginal[:, None]).T.copy()

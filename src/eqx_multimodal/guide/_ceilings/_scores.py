"""Every ordered pair of a gallery scored by the ceilings, and the achievable
retrieval (cached)."""

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..._io import read_json, write_json
from ..._progress import phase, progress as progress_bar
from ..._validation import check_int, check_key, check_seed, seed_key
from ...metrics._retrieval import retrieval_metrics_from_scores
from .._synthetic import AUDIO_COMPONENTS, IMAGE_COMPONENTS, synthetic_batch
from .._synthetic_config import SyntheticConfig
from ._assignment import _image_audio_explained
from ._audio import audio_tone_set
from ._common import _check_alignment, CEILING_PAIRS, CEILING_VERSION
from ._image import _profile_log_likelihood, fit_image_gratings, image_statistics
from ._posterior import image_latent_posterior, LatentPosterior
from ._text import _text_prior, _TextPrior, _tied_log_permanent, token_counts


# ------------------------------------------------------------------------------------
# Retrieval on a gallery
# ------------------------------------------------------------------------------------


def _text_image_scores(
    prior: _TextPrior, counts: np.ndarray, posterior: LatentPosterior, progress: bool
) -> np.ndarray:
    """`log p(text_q | image_i)`, `(texts, images)`."""
    k_all = IMAGE_COMPONENTS
    table = prior.log_f_table(prior.phi(counts, k_all))
    sizes = prior.sizes[:k_all]
    a = prior.alignment
    n_img = posterior.values.shape[0]
    out = np.zeros((counts.shape[0], n_img))
    log_s = prior.log_shown(posterior.values, sizes)  # (I, U)
    with progress_bar(n_img, "ceiling: text-image", unit="images", enabled=progress) as bar:
        for i in range(n_img):
            keep = np.isfinite(posterior.log_weights[i])
            z = posterior.values[i, keep]  # (U, 8)
            ls = np.broadcast_to(log_s[i, keep][None, :], (counts.shape[0], z.shape[0]))
            terms = (
                posterior.log_weights[i, keep][None, :]
                + a * counts[:, :k_all] @ z.T
                + prior.interpolate(table, ls)
            )
            peak = terms.max(axis=1)
            out[:, i] = peak + np.log(np.sum(np.exp(terms - peak[:, None]), axis=1))
            bar.update(1)
    return out


def _text_audio_scores(
    prior: _TextPrior, counts: np.ndarray, tones: np.ndarray, progress: bool
) -> np.ndarray:
    """`text_set_log_likelihood` of every text against every tone set, `(texts, clips)`."""
    n = tones.shape[1]
    table = prior.log_f_table(prior.phi(counts, n))
    log_s = prior.log_shown(tones, np.full(n, prior.sizes[:n].mean()))
    out = np.zeros((counts.shape[0], tones.shape[0]))
    with progress_bar(
        counts.shape[0], "ceiling: text-audio", unit="texts", enabled=progress
    ) as bar:
        for q in range(counts.shape[0]):
            out[q] = _tied_log_permanent(tones, counts[q, :n], prior.alignment)
            bar.update(1)
    out = out - math.lgamma(n + 1)
    return out + prior.interpolate(table, np.broadcast_to(log_s[None, :], out.shape))


def _check_config(config: Any) -> SyntheticConfig:
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"`config` must be a SyntheticConfig, got {type(config).__name__}")
    if config.latent_dim < AUDIO_COMPONENTS:
        raise ValueError(
            f"the ceilings need `latent_dim` >= {AUDIO_COMPONENTS} (every tone and grating "
            f"its own latent), got {config.latent_dim}"
        )
    return config


def _image_audio_log_likelihood(stats: Any, fit: Any, tones: Any, **search: Any) -> np.ndarray:
    """`[image, clip]`: each image's profile log-likelihood with the latents of its best
    found assignment of each clip's tones (`_image_audio_explained` searches with
    `search`)."""
    explained = _image_audio_explained(stats, fit, tones, **search)
    return _profile_log_likelihood(
        explained, stats.energy[:, None], stats.within[:, None], stats.channels, stats.pixels
    )


def ceiling_scores(
    gallery: Mapping[str, np.ndarray | Array],
    config: SyntheticConfig,
    *,
    key: PRNGKeyArray,
    shortlist: int = 25,
    restarts: int = 16,
    steps: int = 12,
    progress: bool = True,
    timings: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Score every ordered pair of the gallery's modalities with the observation-only
    matchers: `scores[pair][i, j]` scores query `i` against gallery item `j` (higher is
    better; the true match is `j = i`), float64.

    - `image->audio`: `image_log_likelihood` of image `i` with the latents of its best
        found assignment of clip `j`'s tones (`match_tones_to_gratings`). Every pair is
        searched from the two greedy starts; the `shortlist` best clips of each image
        and the `shortlist` best images of each clip are searched again from
        `restarts` random starts as well (the score can only rise).
    - `audio->image`: the same likelihood minus image `i`'s `fit_image_gratings`
        log-likelihood (a likelihood ratio, so that images that any latents fit well do
        not win every query).
    - `text->audio`: `text_set_log_likelihood`; `audio->text` the same minus
        `text_log_marginal` of the text.
    - `text->image`: `text_log_likelihood_given_image` under `image_latent_posterior`;
        `image->text` the same minus `text_log_marginal`.

    These are likelihoods (ratios), the scores a Bayes-optimal matcher would use if the
    posterior and the searches were exact: up to the approximations listed in the
    module's documentation, no matcher that sees only the observations can do better
    on average.

    **Arguments:**

    - `gallery`: a batch of the synthetic data (`synthetic_batch`), with at least two
        of `"image"`, `"text"` and `"audio"`.
    - `config`: the `SyntheticConfig` it was rendered with (its alignment in (0, 1]).
    - `key`: keyword only. The key of the searches' random starts and of the sampler.
    - `shortlist`, `restarts`, `steps`: keyword only. Of the image-audio search.
    - `progress`: keyword only. Progress bars (on a terminal; a line every 10 s in a
        log) and the stages' names and times on stderr.
    - `timings`: keyword only. If given, a dict that receives the seconds each stage
        took.

    **Returns:**

    A dict from `"query->gallery"` to `(gallery, gallery)` score matrices.
    """
    config = _check_config(config)
    key = check_key(key)
    check_int(shortlist, "shortlist", minimum=0)
    check_int(restarts, "restarts", minimum=0)
    check_int(steps, "steps", minimum=0)
    a = _check_alignment(float(np.asarray(config.alignment)), allow_zero=False)
    present = [m for m in ("image", "text", "audio") if m in gallery]
    if len(present) < 2:
        raise ValueError(f"`gallery` must hold two of image, text and audio, got {sorted(gallery)}")
    sizes = {m: len(gallery[m]) for m in present}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"`gallery` modalities must have equal lengths, got {sizes}")
    fit_key, search_key, sample_key = jr.split(key, 3)
    scores: dict[str, np.ndarray] = {}
    tones = stats = fit = None
    timings = {} if timings is None else timings
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 1)
        clock[0] = now

    if "audio" in present:
        with phase("ceiling: audio tone sets", enabled=progress):
            tones = audio_tone_set(
                gallery["audio"], a, sample_rate=config.sample_rate, duration=config.duration
            ).values
        lap("audio tone sets")
    if "image" in present:
        with phase("ceiling: image grating fits", enabled=progress):
            stats = image_statistics(gallery["image"])
            fit = fit_image_gratings(stats, key=fit_key)
        lap("image fits")
    if stats is not None and tones is not None:
        assert fit is not None
        ll = _image_audio_log_likelihood(
            stats, fit, tones, key=search_key, shortlist=shortlist, restarts=restarts,
            steps=steps, progress=progress,
        )  # fmt: skip
        scores["image->audio"] = ll
        scores["audio->image"] = (ll - fit.log_likelihood[:, None]).T.copy()
        lap("image-audio search")
    if "text" in present:
        tokens = np.asarray(gallery["text"])
        prior = _text_prior(a, int(tokens.shape[-1]), config.vocab_size, config.latent_dim)
        counts = token_counts(tokens, config.latent_dim)[:, : prior.groups]
        marginal = prior.log_f(prior.phi(counts, 0), np.full(counts.shape[0], -np.inf))
        if tones is not None:
            ta = _text_audio_scores(prior, counts, tones, progress)
            scores["text->audio"] = ta
            scores["audio->text"] = (ta - marginal[:, None]).T.copy()
            lap("text-audio permanents")
        if stats is not None:
            with phase("ceiling: image posteriors", enabled=progress):
                posterior = image_latent_posterior(stats, key=sample_key, fit=fit)
            lap("image posterior")
            ti = _text_image_scores(prior, counts, posterior, progress)
            scores["text->image"] = ti
            scores["image->text"] = (ti - marginal[:, None]).T.copy()
            lap("text-image mixtures")
    return {pair: scores[pair] for pair in CEILING_PAIRS if pair in scores}


def _gallery(
    config: SyntheticConfig, size: int, seed: int, chunk: int = 250
) -> dict[str, np.ndarray]:
    """Items `0..size-1` of the held-out stream of `seed`: the gallery that
    `SyntheticDataset(config, size, key=training.stream_key(seed, TEST_STREAM))` makes."""
    key = jr.fold_in(seed_key(seed), 2)
    parts = [
        synthetic_batch(jnp.arange(start, min(start + chunk, size)), key=key, config=config)
        for start in range(0, size, chunk)
    ]
    return {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in parts[0]}


def _cache_path(
    cache_dir: str, config: SyntheticConfig, size: int, seed: int, shortlist: int, restarts: int
) -> str:
    described = config.to_dict()
    alignment = float(np.asarray(config.alignment))
    described["alignment"] = repr(alignment)  # exact: close alignments get their own file
    fingerprint = json.dumps(described, sort_keys=True)
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:8]
    name = (
        f"ceiling-v{CEILING_VERSION}-a{alignment:.4f}-g{size}-s{seed}"
        f"-k{shortlist}-r{restarts}-{digest}.json"
    )
    return os.path.join(cache_dir, name)


def achievable_retrieval(
    config: SyntheticConfig,
    gallery_size: int = 1000,
    seed: int = 0,
    *,
    key: PRNGKeyArray | None = None,
    cache_dir: str | os.PathLike | None = None,
    shortlist: int = 25,
    restarts: int = 16,
    ks: Sequence[int] = (1, 5, 10),
    progress: bool = True,
) -> dict[str, Any]:
    """The retrieval the observation-only matchers of `ceiling_scores` reach on the
    held-out gallery of `seed`: recall@k and median rank for every ordered pair of the
    configuration's modalities.

    The gallery is items `0..gallery_size-1` of the stream
    `training.stream_key(seed, TEST_STREAM)`, the one `eqx-multimodal evaluate --seed`
    scores a model on. At alignment 0 nothing in the observations depends on the latent, so every
    matcher is at chance: the function then returns the chance figures (`recall@k = k /
    gallery_size`, median rank `(gallery_size + 1) / 2`, the expectation with ties
    broken at random) without computing anything.

    **Arguments:**

    - `config`: the data's `SyntheticConfig` (any alignment in [0, 1]).
    - `gallery_size`: items in the gallery.
    - `seed`: the gallery's seed.
    - `key`: keyword only. The key of the matchers' random starts and sampler; by
        default one derived from `seed`.
    - `cache_dir`: keyword only. If given, results are read from and written to a JSON
        file there, named by the alignment, gallery size, seed, the search's settings
        and (a digest of) the rest of the configuration; only results with the default
        `key` are cached.
    - `shortlist`, `restarts`: keyword only. Of the image-audio search (see
        `ceiling_scores`).
    - `ks`: keyword only. The k of recall@k.
    - `progress`: keyword only. Progress bars (on a terminal; a line every 10 s in a
        log) and the stages' names and times on stderr.

    **Returns:**

    A dict: `"pairs"` maps each `"query->gallery"` pair to its
    `retrieval_metrics_from_scores`; `"alignment"`, `"gallery_size"`, `"seed"`,
    `"seconds"` (in total), `"stage_seconds"` and `"version"` describe the run.
    """
    config = _check_config(config)
    check_int(gallery_size, "gallery_size", minimum=2)
    check_seed(seed)
    ks = tuple(check_int(k, "ks") for k in ks)
    alignment = _check_alignment(float(np.asarray(config.alignment)))
    path = None
    if cache_dir is not None and key is None:
        path = _cache_path(os.fspath(cache_dir), config, gallery_size, seed, shortlist, restarts)
        if os.path.exists(path):
            try:  # a damaged cache entry is computed again
                cached = read_json(path)
                if all(f"recall@{k}" in m for m in cached["pairs"].values() for k in ks):
                    return cached
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
    modalities = [m for m in ("image", "text", "audio") if m in config.modalities]
    pairs = [p for p in CEILING_PAIRS if all(m in modalities for m in p.split("->"))]
    start = time.perf_counter()
    timings: dict[str, float] = {}
    if alignment == 0.0:
        chance = {f"recall@{k}": min(k, gallery_size) / gallery_size for k in ks}
        chance["median_rank"] = (gallery_size + 1) / 2
        metrics = {pair: dict(chance) for pair in pairs}
    else:
        gallery = _gallery(config, gallery_size, seed)
        scores = ceiling_scores(
            gallery,
            config,
            key=jr.fold_in(seed_key(seed), 17) if key is None else key,
            shortlist=shortlist,
            restarts=restarts,
            progress=progress,
            timings=timings,
        )
        metrics = {pair: retrieval_metrics_from_scores(scores[pair], ks) for pair in pairs}
    result = {
        "alignment": alignment,
        "gallery_size": gallery_size,
        "seed": seed,
        "pairs": metrics,
        "seconds": round(time.perf_counter() - start, 1),
        "stage_seconds": timings,
        "version": CEILING_VERSION,
    }
    if path is not None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        write_json(path, result)
    return result

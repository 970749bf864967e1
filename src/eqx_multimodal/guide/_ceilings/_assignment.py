"""The assignment of an audio clip's tones to an image's gratings: greedy
substitution, local search and random restarts."""

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..._progress import progress as progress_bar
from ..._validation import check_int, check_key
from .._synthetic import IMAGE_COMPONENTS
from ._common import _chunked, _x64
from ._image import (
    _as_statistics,
    _explained,
    _gram_blocks,
    _grating_weights,
    _profile_log_likelihood,
    _unit_weights,
    fit_image_gratings,
    ImageStatistics,
    ReferenceGratingFit,
)


# -- the assignment of an audio clip's tones to the gratings -------------------------

_SWAPS = np.array([(k, m) for k in range(IMAGE_COMPONENTS) for m in range(k + 1, IMAGE_COMPONENTS)])


def _pair_tables(projections: Array, values: Array, gram4: Array):
    """For one image and one tone set: `L[k, v]`, the image's projection on grating `k`
    drawn with tone `v`, and `T[k, l, v, w]`, the inner product of grating `k` drawn
    with `v` and grating `l` drawn with `w`. Any assignment's fit follows from them."""
    w = _grating_weights(values, jnp)  # (V, 4)
    table = jnp.einsum("am,kmln,bn->klab", w, gram4, w)
    lin = jnp.einsum("km,am->ka", projections.reshape(IMAGE_COMPONENTS, 4), w)
    return lin, table


def _greedy_assignment(lin: Array, table: Array) -> Array:
    """Add gratings one at a time, each time the (grating, unused tone) that explains
    the most with the gratings already placed."""
    k_all, v_all = lin.shape
    diag = jnp.einsum("kkvv->kv", table)

    def add(carry, _):
        placed, used, assignment, num, den, cross = carry
        score = _explained(num + lin, den + 2 * cross + diag, jnp)
        score = jnp.where(placed[:, None] | used[None, :], -jnp.inf, score)
        flat = jnp.argmax(score).astype(jnp.int32)
        k, v = flat // v_all, flat % v_all
        num = num + lin[k, v]
        den = den + 2 * cross[k, v] + table[k, k, v, v]
        cross = cross + table[:, k, :, v]
        return (
            placed.at[k].set(True),
            used.at[v].set(True),
            assignment.at[k].set(v),
            num,
            den,
            cross,
        ), None

    zero = jnp.zeros((), lin.dtype)
    init = (
        jnp.zeros(k_all, bool),
        jnp.zeros(v_all, bool),
        jnp.zeros(k_all, jnp.int32),
        zero,
        zero,
        jnp.zeros((k_all, v_all), lin.dtype),
    )
    (_, _, assignment, _, _, _), _ = jax.lax.scan(add, init, None, length=k_all)
    return assignment


def _phase_assignment(projections: Array, values: Array, gram4: Array, sweeps: int = 3) -> Array:
    """Coordinate descent with each grating's phase restricted to the tones' phases
    (distinct tones) and its amplitude free: uses the phases only."""
    k_all = IMAGE_COMPONENTS
    v_all = values.shape[0]
    b4 = projections.reshape(k_all, 4)
    units = _unit_weights(values, jnp)  # (V, 4)
    norms = jnp.einsum("am,kmn,an->ka", units, jnp.einsum("kmkn->kmn", gram4), units)

    def refit(k, carry):
        w, assignment = carry
        others = jnp.einsum("mln,ln->m", gram4[k], w) - gram4[k, :, k, :] @ w[k]
        proj = units @ (b4[k] - others)
        used = jnp.zeros(v_all + 1, bool).at[assignment].set(True).at[assignment[k]].set(False)
        amp = jnp.maximum(proj, 0.0) / norms[k]
        gain = jnp.where(used[:v_all], -jnp.inf, amp * proj)
        best = jnp.argmax(gain).astype(jnp.int32)
        return w.at[k].set(amp[best] * units[best]), assignment.at[k].set(best)

    def sweep(carry, _):
        return jax.lax.fori_loop(0, k_all, refit, carry), None

    init = (jnp.zeros((k_all, 4), projections.dtype), jnp.full(k_all, v_all, jnp.int32))
    (_, assignment), _ = jax.lax.scan(sweep, init, None, length=sweeps)
    return assignment


def _local_search(lin: Array, table: Array, assignment: Array, steps: int):
    """Best-improvement local search over assignments: every substitution of a grating's
    tone by an unused one and every exchange of two gratings' tones, `steps` times.
    Returns the assignment and the variance it explains."""
    k_all, v_all = lin.shape
    kk = jnp.arange(k_all)
    diag = jnp.einsum("kkvv->kv", table)
    ka, kb = jnp.asarray(_SWAPS[:, 0], jnp.int32), jnp.asarray(_SWAPS[:, 1], jnp.int32)
    num = jnp.sum(lin[kk, assignment])
    den = jnp.sum(table[kk[:, None], kk[None, :], assignment[:, None], assignment[None, :]])

    def step(carry, _):
        assignment, num, den = carry
        onehot = jax.nn.one_hot(assignment, v_all, dtype=table.dtype)
        cross = jnp.einsum("kmvw,mw->kv", table, onehot)  # sum_m T[ka, m, v, a_m]
        old = assignment
        t_old = table[kk, kk, old, old]
        t_new_old = table[kk[:, None], kk[:, None], jnp.arange(v_all)[None, :], old[:, None]]
        den_sub = den - (2 * cross[kk, old] - t_old)[:, None] + 2 * (cross - t_new_old) + diag
        num_sub = num - lin[kk, old][:, None] + lin
        used = jnp.zeros(v_all, bool).at[assignment].set(True)
        s_sub = jnp.where(used[None, :], -jnp.inf, _explained(num_sub, den_sub, jnp))
        p, q = assignment[ka], assignment[kb]

        def rest_k(v):
            return cross[ka, v] - table[ka, ka, v, p] - table[ka, kb, v, q]

        def rest_l(v):
            return cross[kb, v] - table[kb, ka, v, p] - table[kb, kb, v, q]

        before = (
            2 * rest_k(p)
            + 2 * rest_l(q)
            + table[ka, ka, p, p]
            + table[kb, kb, q, q]
            + 2 * table[ka, kb, p, q]
        )
        after = (
            2 * rest_k(q)
            + 2 * rest_l(p)
            + table[ka, ka, q, q]
            + table[kb, kb, p, p]
            + 2 * table[ka, kb, q, p]
        )
        den_swap = den - before + after
        num_swap = num - lin[ka, p] - lin[kb, q] + lin[ka, q] + lin[kb, p]
        s_swap = _explained(num_swap, den_swap, jnp)
        current = _explained(num, den, jnp)
        best_sub, best_swap = jnp.max(s_sub), jnp.max(s_swap)
        i_sub = jnp.argmax(s_sub).astype(jnp.int32)
        ks, vs = i_sub // v_all, i_sub % v_all
        i_swap = jnp.argmax(s_swap)
        use_sub = (best_sub >= best_swap) & (best_sub > current * (1 + 1e-12))
        use_swap = (best_swap > best_sub) & (best_swap > current * (1 + 1e-12))
        substituted = assignment.at[ks].set(vs)
        swapped = assignment.at[ka[i_swap]].set(q[i_swap]).at[kb[i_swap]].set(p[i_swap])
        assignment = jnp.where(use_sub, substituted, jnp.where(use_swap, swapped, assignment))
        num = jnp.where(use_sub, num_sub[ks, vs], jnp.where(use_swap, num_swap[i_swap], num))
        den = jnp.where(use_sub, den_sub[ks, vs], jnp.where(use_swap, den_swap[i_swap], den))
        return (assignment, num, den), None

    (assignment, num, den), _ = jax.lax.scan(step, (assignment, num, den), None, length=steps)
    return assignment, _explained(num, den, jnp)


def _phase_match_assignment(phase: Array, amplitude: Array, values: Array) -> Array:
    """Each grating the unused tone whose `frac(v)` is nearest (on the circle) to the
    grating's fitted phase, the loudest gratings choosing first."""
    k_all, v_all = IMAGE_COMPONENTS, values.shape[0]
    gap = jnp.abs(phase[:, None] - jnp.mod(values, 1.0)[None, :])
    gap = jnp.minimum(gap, 1.0 - gap)
    cost = gap / (amplitude / (jnp.max(amplitude) + 1e-300) + 0.05)[:, None]

    def pick(carry, _):
        cost, assignment = carry
        flat = jnp.argmin(cost).astype(jnp.int32)
        k, v = flat // v_all, flat % v_all
        cost = cost.at[k, :].set(jnp.inf).at[:, v].set(jnp.inf)
        return (cost, assignment.at[k].set(v)), None

    (_, assignment), _ = jax.lax.scan(pick, (cost, jnp.zeros(k_all, jnp.int32)), None, length=k_all)
    return assignment


def _search(
    projections: Array,
    phase: Array,
    amplitude: Array,
    values: Array,
    gram4: Array,
    key: Array,
    restarts: int,
    steps: int,
):
    """The matcher's assignment for one (image, tone set): local search from three
    greedy starts and from `restarts` random ones; the best."""
    lin, table = _pair_tables(projections, values, gram4)
    starts = jnp.stack(
        [
            _greedy_assignment(lin, table),
            _phase_assignment(projections, values, gram4),
            _phase_match_assignment(phase, amplitude, values),
        ]
    )
    if restarts:
        v_all = values.shape[0]
        random = jax.vmap(lambda k: jr.permutation(k, v_all)[:IMAGE_COMPONENTS].astype(jnp.int32))(
            jr.split(key, restarts)
        )
        starts = jnp.concatenate([starts, random])
    assignments, explained = jax.vmap(lambda s: _local_search(lin, table, s, steps))(starts)
    best = jnp.argmax(explained)
    return assignments[best], explained[best]


@functools.partial(jax.jit, static_argnames=("restarts", "steps"))
def _search_pairs(
    projections: Array,
    phases: Array,
    amplitudes: Array,
    values: Array,
    gram4: Array,
    keys: Array,
    *,
    restarts: int,
    steps: int,
):
    return jax.vmap(lambda p, ph, am, v, k: _search(p, ph, am, v, gram4, k, restarts, steps))(
        projections, phases, amplitudes, values, keys
    )


@functools.partial(jax.jit, static_argnames=("restarts", "steps"))
def _search_column(
    projections: Array,
    phases: Array,
    amplitudes: Array,
    values: Array,
    gram4: Array,
    keys: Array,
    *,
    restarts: int,
    steps: int,
):
    """One tone set against many images (the tone set's tables shared)."""
    return jax.vmap(lambda p, ph, am, k: _search(p, ph, am, values, gram4, k, restarts, steps))(
        projections, phases, amplitudes, keys
    )


def match_tones_to_gratings(
    images: "np.ndarray | Array | ImageStatistics",
    tones: np.ndarray | Array,
    *,
    key: PRNGKeyArray,
    fit: "ReferenceGratingFit | None" = None,
    restarts: int = 16,
    steps: int = 12,
) -> tuple[np.ndarray, np.ndarray]:
    """Assign 8 of each audio clip's tones to an image's 8 gratings, as well as the image
    allows: the assignment that maximises `image_log_likelihood` among those found.

    Best-improvement local search (every substitution of a grating's tone by an unused
    tone and every exchange of two gratings' tones, `steps` times) from three greedy
    starts (gratings added one at a time, each time the grating and tone that explain
    the most; a coordinate descent with the gratings' phases restricted to the tones'
    phases; each grating the tone nearest to its `fit_image_gratings` phase) and from
    `restarts` random assignments drawn from `key`. On the README's gallery, 16 random
    starts find the exhaustive optimum over all `10! / 2! = 1814400` assignments in
    every case checked.

    **Arguments:**

    - `images`: `(..., height, width, channels)` or their `image_statistics`.
    - `tones`: the signed tone values `(..., 10)` (see `audio_tone_set`), one set per
        image (same batch shape).
    - `key`: keyword only. The key of the random starts (and of `fit_image_gratings`
        if `fit` is not given).
    - `fit`: keyword only. The images' `fit_image_gratings`, if already computed.
    - `restarts`, `steps`: keyword only.

    **Returns:**

    `(assignment, log_likelihood)`: `assignment[..., k]` the index in `tones` of grating
    `k`'s tone, and `image_log_likelihood` of the image with those latents.
    """
    stats = _as_statistics(images)
    key = check_key(key)
    check_int(restarts, "restarts", minimum=0)
    check_int(steps, "steps", minimum=0)
    tones = np.asarray(tones, dtype=np.float64)
    batch = stats.projections.shape[:-1]
    if tones.shape[:-1] != batch or tones.shape[-1] < IMAGE_COMPONENTS:
        raise ValueError(
            f"`tones` must be {(*batch, 'V')} with V >= {IMAGE_COMPONENTS}, one tone set per "
            f"image, got shape {tones.shape}"
        )
    count = int(np.prod(batch))
    fit_key, search_key = jr.split(key)
    if fit is None:
        fit = fit_image_gratings(stats, key=fit_key)
    keys = jr.split(search_key, max(count, 1))[:count]
    with _x64():
        gram4 = jnp.asarray(_gram_blocks(stats))
        assignment, explained = _chunked(
            lambda p, ph, am, v, k: _search_pairs(
                p, ph, am, v, gram4, k, restarts=restarts, steps=steps
            ),
            [
                stats.projections.reshape(count, -1),
                np.asarray(fit.phase).reshape(count, -1),
                np.asarray(fit.amplitude).reshape(count, -1),
                tones.reshape(count, -1),
                keys,
            ],
            64,
        )
    explained = np.asarray(explained).reshape(batch)
    ll = _profile_log_likelihood(
        explained, stats.energy, stats.within, stats.channels, stats.pixels
    )
    return np.asarray(assignment).reshape(*batch, IMAGE_COMPONENTS), np.asarray(ll)


@functools.partial(jax.jit, static_argnames=("restarts", "steps"))
def _search_chunks(
    projections: Array,
    phases: Array,
    amplitudes: Array,
    values: Array,
    images: Array,
    keys: Array,
    gram4: Array,
    *,
    restarts: int,
    steps: int,
):
    """For each chunk `c`: the tone set `values[c]` against the images `images[c]`."""

    def chunk(args):
        v, idx, k = args
        return _search_column(
            projections[idx],
            phases[idx],
            amplitudes[idx],
            v,
            gram4,
            k,
            restarts=restarts,
            steps=steps,
        )[1]

    return jax.lax.map(chunk, (values, images, keys))


def _image_audio_explained(
    stats: ImageStatistics,
    fit: ReferenceGratingFit,
    tones: np.ndarray,
    *,
    key: PRNGKeyArray,
    shortlist: int,
    restarts: int,
    steps: int,
    progress: bool,
) -> np.ndarray:
    """The variance each image's best found assignment of each tone set explains,
    `(images, tone sets)`: local search from the greedy starts for every pair, then, for
    the `shortlist` best tone sets of each image and the `shortlist` best images of each
    tone set, from `restarts` random starts as well."""
    reference = fit.log_likelihood
    n_img, n_aud = stats.projections.shape[0], tones.shape[0]
    out = np.zeros((n_img, n_aud))
    with _x64():
        gram4 = jnp.asarray(_gram_blocks(stats))
        proj = jnp.asarray(stats.projections)
        phases, amplitudes = jnp.asarray(fit.phase), jnp.asarray(fit.amplitude)
        dummy = jr.split(jr.key(0), n_img)  # (no random starts in the first pass)
        with progress_bar(n_aud, "ceiling: image-audio", unit="clips", enabled=progress) as bar:
            for j in range(n_aud):
                _, explained = _search_column(
                    proj,
                    phases,
                    amplitudes,
                    jnp.asarray(tones[j]),
                    gram4,
                    dummy,
                    restarts=0,
                    steps=steps,
                )
                out[:, j] = np.asarray(explained)
                bar.update(1)
        if not (shortlist and restarts):
            return out
        ll = _profile_log_likelihood(
            out, stats.energy[:, None], stats.within[:, None], stats.channels, stats.pixels
        )
        k = min(shortlist, n_aud, n_img)
        pairs = set()
        rows = np.argsort(-ll, axis=1, kind="stable")[:, :k]  # image -> audio
        for i in range(n_img):
            pairs.update((int(j), i) for j in rows[i])
        cols = np.argsort(-(ll - reference[:, None]), axis=0, kind="stable")[:k]  # audio -> image
        for j in range(n_aud):
            pairs.update((j, int(i)) for i in cols[:, j])
        by_audio: dict[int, list[int]] = {}
        for j, i in sorted(pairs):
            by_audio.setdefault(j, []).append(i)
        size = k
        chunk_audio, chunk_images = [], []
        for j, images in by_audio.items():
            for start in range(0, len(images), size):
                part = images[start : start + size]
                chunk_audio.append(j)
                chunk_images.append(part + [part[0]] * (size - len(part)))
        per_call = 64
        pad = -len(chunk_audio) % per_call
        chunk_audio = np.asarray(chunk_audio + chunk_audio[:1] * pad)
        chunk_images = np.asarray(chunk_images + chunk_images[:1] * pad)
        keys = jax.vmap(lambda j, idx: jax.vmap(lambda i: jr.fold_in(jr.fold_in(key, j), i))(idx))(
            jnp.asarray(chunk_audio), jnp.asarray(chunk_images)
        )
        with progress_bar(
            len(chunk_audio), "ceiling: image-audio re-rank", unit="chunks", enabled=progress
        ) as bar:
            for start in range(0, len(chunk_audio), per_call):
                stop = start + per_call
                explained = np.asarray(
                    _search_chunks(
                        proj,
                        phases,
                        amplitudes,
                        jnp.asarray(tones[chunk_audio[start:stop]]),
                        jnp.asarray(chunk_images[start:stop]),
                        keys[start:stop],
                        gram4,
                        restarts=restarts,
                        steps=steps,
                    )
                )
                for c in range(explained.shape[0]):
                    j = chunk_audio[start + c]
                    idx = chunk_images[start + c]
                    out[idx, j] = np.maximum(out[idx, j], explained[c])
                bar.update(explained.shape[0])
    return out

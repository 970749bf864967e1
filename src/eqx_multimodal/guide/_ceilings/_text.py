"""The text's exact likelihood given latents, and given an unordered set of them
(the permanent)."""

import functools
import math
from typing import Any

import numpy as np
from jaxtyping import Array

from ..._validation import check_int
from .._synthetic import token_groups
from ._common import _check_alignment


# ------------------------------------------------------------------------------------
# Text: the likelihood of the tokens given the latents a view shows
# ------------------------------------------------------------------------------------


def token_counts(tokens: np.ndarray | Array, latent_dim: int = 32) -> np.ndarray:
    """How many tokens of each text belong to each latent's group (token `t` has logit
    `alignment z[t % latent_dim]`): float64 `(..., latent_dim)`. The counts are all a
    text says about the latent."""
    check_int(latent_dim, "latent_dim")
    tokens = np.asarray(tokens)
    if tokens.ndim < 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(
            f"`tokens` must be integer tokens (..., length), got {tokens.dtype} {tokens.shape}"
        )
    flat = tokens.reshape(-1, tokens.shape[-1])
    counts = np.zeros((flat.shape[0], latent_dim))
    np.add.at(counts, (np.arange(flat.shape[0])[:, None], flat % latent_dim), 1.0)
    return counts.reshape(*tokens.shape[:-1], latent_dim)


def _log_h_mode(n: np.ndarray, c: np.ndarray, u: np.ndarray, a: float) -> np.ndarray:
    """The mode of `exp(n a z - u c exp(a z)) phi(z)` in `z`: the root of `n a - z - u c a
    exp(a z) = 0`, which is `z = n a - W(u c a^2 exp(a^2 n)) / a` (Lambert's W), with
    `W(e^y)` found as `e^v`, `e^v + v = y`, by Newton's method in `v` (convex and
    increasing, so monotone from the start `v = log y` for `y > 1`, `v = y` else)."""
    if a == 0.0:
        return np.zeros(np.broadcast_shapes(n.shape, c.shape, u.shape))
    y = np.log(u * c * a * a) + a * a * n
    v = np.where(y > 1.0, np.log(np.maximum(y, 1.0)), y)
    for _ in range(40):
        v = v - (np.exp(v) + v - y) / (np.exp(v) + 1.0)
    return n * a - np.exp(v) / a


@functools.lru_cache(maxsize=8)
def _text_prior(
    alignment: float, seq_length: int, vocab_size: int, latent_dim: int
) -> "_TextPrior":
    """A cached `_TextPrior` (its tables take a moment to build)."""
    return _TextPrior(alignment, seq_length, vocab_size, latent_dim)


class _TextPrior:
    """The text model of one configuration, with the latents a view does not show
    integrated out under their standard-normal prior.

    With counts `n_j`, group sizes `c_j`, alignment `a` and `L` tokens, a text's
    log-likelihood given the latent is `sum_j a n_j z_j - L log S`, `S = sum_j c_j
    exp(a z_j)`. Split `S` into the shown groups' part `S_0` and the rest; with
    `S^-L = int_0^inf u^(L-1) exp(-u S) du / Gamma(L)`, the expectation over the unshown
    latents factorises at fixed `u`:

        E[exp(sum_unshown a n_j z_j) S^-L]
            = int exp(L t - e^t S_0 + sum_unshown log h(n_j, c_j, e^t)) dt / Gamma(L)

    (`u = e^t`), `h(n, c, u) = E_z[exp(n a z - u c exp(a z))]` for `z ~ N(0, 1)`: a
    one-dimensional integral (`log_f`, a function of `log S_0`) of tabulated
    one-dimensional integrals, both by the trapezoidal rule on fine grids (smooth,
    rapidly decaying integrands, for which it converges geometrically).
    """

    def __init__(self, alignment: float, seq_length: int, vocab_size: int, latent_dim: int):
        self.alignment = a = float(alignment)
        self.length = length = int(seq_length)
        self.sizes = token_groups(vocab_size, latent_dim).astype(np.float64)
        self.groups = self.sizes.shape[0]
        self.size_values, self.size_index = np.unique(self.sizes, return_inverse=True)
        centre = math.log(length / float(vocab_size))
        self.step = 0.7 / math.sqrt(length)
        self.t = np.arange(centre - 6 * a - 7, centre + 6 * a + 7 + self.step, self.step)
        self.log_s = np.arange(
            math.log(self.sizes.min()) - 7 * a - 1,
            math.log(self.sizes.sum()) + 7 * a + 1,
            0.02,
        )
        # log h(n, c, e^t) by the trapezoidal rule on z = mode + offsets: the integrand
        # exp(n a z - u c exp(a z)) phi(z) is log-concave with curvature <= -1, so +-9
        # around its mode holds all of it.
        offsets = np.linspace(-9.0, 9.0, 361)
        n = np.arange(length + 1, dtype=np.float64)[:, None, None, None]
        c = self.size_values[None, :, None, None]
        u = np.exp(self.t)[None, None, :, None]
        z = _log_h_mode(n, c, u, a) + offsets
        log_terms = -0.5 * z**2 + n * a * z - u * c * np.exp(a * z)
        peak = log_terms.max(axis=-1)
        integral = np.log(
            np.sum(np.exp(log_terms - peak[..., None]), axis=-1) * (offsets[1] - offsets[0])
        )
        self.log_h = peak + integral - 0.5 * math.log(2 * math.pi)

    def phi(self, counts: np.ndarray, shown: int) -> np.ndarray:
        """`sum_j log h(n_j, c_j, e^t)` over the groups `shown..`: `(..., len(t))`."""
        n = np.clip(np.rint(counts[..., shown : self.groups]).astype(int), 0, self.length)
        return np.asarray(np.sum(self.log_h[n, self.size_index[shown:]], axis=-2))

    def log_f(self, phi: np.ndarray, log_s: np.ndarray) -> np.ndarray:
        """`log int exp(L t - e^(t + log_s) + phi(t)) dt - log Gamma(L)`: `phi` `(..., T)`
        broadcast against `log_s` `(...)`; `log_s = -inf` for no shown group."""
        log_s = np.asarray(log_s, dtype=np.float64)
        e = self.length * self.t - np.exp(self.t + log_s[..., None]) + phi
        peak = np.max(e, axis=-1)
        out = peak + np.log(np.sum(np.exp(e - peak[..., None]), axis=-1))
        return np.asarray(np.asarray(out) + math.log(self.step) - math.lgamma(self.length))

    def log_f_table(self, phi: np.ndarray) -> np.ndarray:
        """`log_f` on the grid `self.log_s`, `(texts, len(log_s))`, for interpolation."""
        out = []
        for start in range(0, phi.shape[0], 100):
            part = phi[start : start + 100]
            out.append(self.log_f(part[:, None, :], self.log_s[None, :]))
        return np.concatenate(out) if out else np.zeros((0, self.log_s.size))

    def interpolate(self, table: np.ndarray, log_s: np.ndarray) -> np.ndarray:
        """`log_f` at `log_s` `(texts, ...)` by linear interpolation in `table`."""
        grid = self.log_s
        x = (log_s - grid[0]) / (grid[1] - grid[0])
        if np.any(x < 0) or np.any(x > grid.size - 1):
            raise ValueError(
                f"log S_0 outside the tabulated [{grid[0]:.2f}, {grid[-1]:.2f}]: "
                f"[{np.min(log_s):.2f}, {np.max(log_s):.2f}]"
            )
        i = np.clip(np.floor(x).astype(int), 0, grid.size - 2)
        frac = x - i
        rows = np.arange(table.shape[0]).reshape((-1,) + (1,) * (log_s.ndim - 1))
        return np.asarray(table[rows, i] * (1 - frac) + table[rows, i + 1] * frac)

    def log_shown(self, z: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """`log sum_k c_k exp(a z_k)` over the last axis."""
        x = self.alignment * z + np.log(sizes)
        peak = x.max(axis=-1)
        return np.asarray(peak + np.log(np.sum(np.exp(x - peak[..., None]), axis=-1)))


def _check_text_args(tokens: Any, alignment: Any, vocab_size: int, latent_dim: int):
    a = _check_alignment(alignment)
    check_int(vocab_size, "vocab_size")
    check_int(latent_dim, "latent_dim")
    tokens = np.asarray(tokens)
    if tokens.ndim < 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(
            f"`tokens` must be integer tokens (..., length), got {tokens.dtype} {tokens.shape}"
        )
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(
            f"`tokens` must lie in [0, vocab_size={vocab_size}), "
            f"got [{tokens.min()}, {tokens.max()}]"
        )
    return tokens, a


def text_log_likelihood(
    tokens: np.ndarray | Array,
    latents: np.ndarray | Array,
    alignment: float,
    *,
    vocab_size: int = 1000,
    latent_dim: int = 32,
) -> np.ndarray:
    """The log-probability of texts given the first `K` latents, the other
    `latent_dim - K` integrated out under their standard-normal prior (exactly, up to
    quadrature; see `_TextPrior`).

    The renderer draws each of the `L` tokens i.i.d. from `softmax(a tile(z)[:vocab])`,
    so `log p(text | z) = sum_j a n_j z_j - L log sum_j c_j exp(a z_j)` with `n_j` the
    tokens of group `j` (`token_counts`) and `c_j` its size.

    **Arguments:**

    - `tokens`: `(..., L)` integer tokens.
    - `latents`: `(..., K)` the values of `z_0..z_{K-1}`, broadcast against the texts'
        batch shape; `K = 0` gives the marginal `text_log_marginal`.
    - `alignment`: in [0, 1].
    - `vocab_size`, `latent_dim`: keyword only, as rendered.

    **Returns:**

    float64 log-probabilities of the broadcast batch shape.
    """
    tokens, a = _check_text_args(tokens, alignment, vocab_size, latent_dim)
    latents = np.asarray(latents, dtype=np.float64)
    prior = _text_prior(a, int(tokens.shape[-1]), vocab_size, latent_dim)
    k = latents.shape[-1]
    if k > prior.groups:
        raise ValueError(f"`latents` has {k} values, more than the {prior.groups} token groups")
    counts = token_counts(tokens, latent_dim)[..., : prior.groups]
    batch = np.broadcast_shapes(counts.shape[:-1], latents.shape[:-1])
    counts = np.broadcast_to(counts, (*batch, prior.groups))
    latents = np.broadcast_to(latents, (*batch, k))
    phi = prior.phi(counts, k)
    log_s = prior.log_shown(latents, prior.sizes[:k]) if k else np.full(batch, -np.inf)
    return np.asarray(a * np.sum(counts[..., :k] * latents, axis=-1) + prior.log_f(phi, log_s))


def text_log_marginal(
    tokens: np.ndarray | Array, alignment: float, *, vocab_size: int = 1000, latent_dim: int = 32
) -> np.ndarray:
    """`log p(text)`: the text's log-probability with every latent integrated out under
    the standard-normal prior (see `text_log_likelihood`). Subtracted from a text's
    likelihood given a view, it ranks texts for that view (a likelihood ratio)."""
    tokens = np.asarray(tokens)
    return text_log_likelihood(
        tokens, np.zeros((0,)), alignment, vocab_size=vocab_size, latent_dim=latent_dim
    )


def log_permanent(logits: np.ndarray | Array) -> np.ndarray:
    """`log perm(exp(logits))` of a batch of square matrices `(..., n, n)`: the log of
    the sum over the `n!` bijections `pi` of `exp(sum_i logits[i, pi(i)])`.

    Dynamic programming over the subsets of columns (row `r` takes one of the columns
    not yet taken by rows `0..r-1`), `n 2^(n-1)` terms, in float64 and in the log
    domain, so that large logits of either sign neither overflow nor cancel (Ryser's
    formula, with its alternating signs, cancels catastrophically).

    ```python
    >>> import numpy as np
    >>> m = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> round(float(np.exp(log_permanent(np.log(m)))), 9)  # 1 * 4 + 2 * 3
    10.0

    ```
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim < 2 or logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"`logits` must be square matrices (..., n, n), got shape {logits.shape}")
    n = logits.shape[-1]
    if n > 16:
        raise ValueError(f"`logits` of size n={n} would need 2^n states; n <= 16 is supported")
    batch = logits.shape[:-2]
    flat = np.moveaxis(logits.reshape(-1, n, n), 0, -1)  # (n, n, batch): batch last
    dp = np.zeros((1, flat.shape[-1]))
    for r, (sub, col) in enumerate(_subset_levels(n)):
        terms = dp[sub] + flat[r][col]  # (masks, r + 1, batch)
        peak = np.max(terms, axis=1)
        safe = np.where(np.isfinite(peak), peak, 0.0)
        dp = safe + np.log(np.sum(np.exp(terms - safe[:, None]), axis=1))
    return np.asarray(dp[0].reshape(batch))


@functools.cache
def _subset_levels(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each row `r`, the subsets of `r + 1` columns and, for each, the positions (in
    the previous level) of the subsets without one of its columns, and that column."""
    by_level = [[m for m in range(1 << n) if bin(m).count("1") == r] for r in range(n + 1)]
    position = [{m: i for i, m in enumerate(masks)} for masks in by_level]
    levels = []
    for r in range(1, n + 1):
        sub = [[position[r - 1][m ^ (1 << i)] for i in range(n) if m >> i & 1] for m in by_level[r]]
        col = [[i for i in range(n) if m >> i & 1] for m in by_level[r]]
        levels.append((np.asarray(sub), np.asarray(col)))
    return levels


def _tied_log_permanent(values: np.ndarray, counts: np.ndarray, alignment: float) -> np.ndarray:
    """`log perm(exp(alignment counts[j] values[g, i]))` over `i, j` for every row `g` of
    `values` `(G, n)`, one text's `counts` `(n,)`.

    Columns with equal counts are equal, so the sum over bijections groups into the
    ways of filling each class of equal columns (`prod m_c!` bijections each): a dynamic
    programme over how many columns of each class are taken, far fewer states than
    subsets when counts repeat (they are small integers). Per-row shifts and a
    renormalisation at each row keep it in range.
    """
    g_all, n = values.shape
    classes, mult = np.unique(counts, return_counts=True)
    c_all = classes.size
    x = alignment * values[:, :, None] * classes[None, None, :]  # (G, n, C)
    shift = x.max(axis=2)
    e = np.exp(x - shift[:, :, None]).transpose(1, 2, 0)  # (n, C, G)
    radix = mult + 1
    strides = np.concatenate([[1], np.cumprod(radix[:-1])])
    states = np.stack(np.unravel_index(np.arange(int(np.prod(radix))), radix[::-1]), 1)[:, ::-1]
    level = states.sum(axis=1)
    by_level = [np.flatnonzero(level == r) for r in range(n + 1)]
    where = np.empty(states.shape[0], dtype=int)
    for r in range(n + 1):
        where[by_level[r]] = np.arange(by_level[r].size)
    dp = np.ones((1, g_all))
    log_scale = np.zeros(g_all)
    for i in range(n):
        source = by_level[i]
        new = np.zeros((by_level[i + 1].size, g_all))
        for c in range(c_all):
            ok = states[source, c] < mult[c]
            new[where[source[ok] + strides[c]]] += dp[np.flatnonzero(ok)] * e[i, c][None, :]
        peak = new.max(axis=0)
        peak = np.where(peak > 0, peak, 1.0)
        dp = new / peak[None, :]
        log_scale += np.log(peak)
    return np.log(dp[0]) + log_scale + shift.sum(axis=1) + sum(math.lgamma(m + 1) for m in mult)


def text_set_log_likelihood(
    tokens: np.ndarray | Array,
    tones: np.ndarray | Array,
    alignment: float,
    *,
    vocab_size: int = 1000,
    latent_dim: int = 32,
) -> np.ndarray:
    """The log-probability of texts given an audio clip's tones as a set: the values of
    `z_0..z_{n-1}` in unknown order (`n = 10` for the renderer's audio).

    `log (1 / n!) sum_pi p(text | z_j = tones[pi(j)] for j < n)`, the other latents
    integrated out as in `text_log_likelihood`. The sum over the `n!` matchings is a
    permanent (computed exactly, by dynamic programming, in float64). One approximation:
    inside the softmax normaliser the `n` shown groups are given their mean size (31.8
    for the renderer's 32 and 31), so that the normaliser does not depend on the
    matching; the numerators are exact.

    **Arguments:**

    - `tokens`: `(..., L)` integer tokens.
    - `tones`: `(..., n)` tone values (`audio_tone_set(...).values`), broadcast against
        the texts' batch shape.
    - `alignment`: in [0, 1].
    - `vocab_size`, `latent_dim`: keyword only, as rendered.

    **Returns:**

    float64 log-probabilities of the broadcast batch shape.
    """
    tokens, a = _check_text_args(tokens, alignment, vocab_size, latent_dim)
    tones = np.asarray(tones, dtype=np.float64)
    prior = _text_prior(a, int(tokens.shape[-1]), vocab_size, latent_dim)
    n = tones.shape[-1]
    if n > prior.groups:
        raise ValueError(f"`tones` has {n} values, more than the {prior.groups} token groups")
    counts = token_counts(tokens, latent_dim)[..., : prior.groups]
    batch = np.broadcast_shapes(counts.shape[:-1], tones.shape[:-1])
    counts = np.broadcast_to(counts, (*batch, prior.groups)).reshape(-1, prior.groups)
    tones = np.broadcast_to(tones, (*batch, n)).reshape(-1, n)
    logits = a * tones[:, :, None] * counts[:, None, :n]
    numerator = log_permanent(logits) - math.lgamma(n + 1)
    mean_size = np.full(n, prior.sizes[:n].mean())
    log_s = prior.log_shown(tones, mean_size)
    out = numerator + prior.log_f(prior.phi(counts, n), log_s)
    return np.asarray(out.reshape(batch))

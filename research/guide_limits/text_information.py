"""How much can text retrieval reach? Reference recalls for text->image and text->audio.

The guide's text is `seq_length` (L) tokens drawn i.i.d. from `softmax(alignment *
tile(z))` over the vocabulary (V tokens), so token `t` belongs to latent dimension
`t % latent_dim`, and the token counts `n_j` of the groups are all the text says. Given
a view of the latent, the log-likelihood of a text is

    sum_j n_j a z_j - L log(sum_j c_j exp(a z_j))

(`a` the alignment, `c_j` tokens in group j). An image shows `z_0..z_7` (grating k has
frequency 2 + k), an audio clip `z_0..z_9` as 10 summed tones in no order. This script
ranks a held-out gallery (1000-way, alignment 0.8 by default) by that likelihood, with
`exp(a z_j)` of the latents the item does not show replaced by its prior mean
`exp(a^2 / 2)` inside the normaliser (checked against an importance-sampled exact
marginal: R@10 within 0.004), for these views:

- `z_0..7 exact, in order`: the latents an image shows, known exactly and in order:
  what no image noise would allow. At alignment 0.8 the image leaves the signs of many
  `z_k` open (see `image_posterior.py`), so no image tower reaches it.
- `centred counts only`: `sum_j (n_j - L c_j / V) a z_j`, what a centred bag of tokens
  with no constant can express: the normaliser's first-order term (it is linear in z)
  but not its curvature, which needs a term that depends only on the gallery item.
- `raw counts only`: `sum_j n_j a z_j`, the likelihood without its normaliser.
- `z_0..7 without their signs`: the likelihood summed over the `2^8` sign patterns
  (the prior is symmetric). Neither a bound nor a target: an image does say something
  about the signs, and does not give `|z_k|` exactly.
- `z_0..9 exact, as a set`: the latents an audio clip shows, exactly, in no order: the
  likelihood summed over the `10!` matchings of tones to groups (a permanent, by
  dynamic programming over subsets). The 10 groups' sizes (32 or 31) are replaced by
  their mean in the normaliser, which otherwise would tell the groups apart. Nothing
  that sees the waveform knows which tone is which group, so up to the plug-in
  normaliser this is the most any text->audio matcher can expect on this gallery.
  (One gallery of 1000 has a binomial standard error of about 0.0075 at R@10 0.06.)

    python benchmarks/text_information.py [--alignment 0.8] [--gallery 1000] [--seed 3]
"""

import argparse
import itertools
import time

import jax.numpy as jnp
import jax.random as jr
import numpy as np

from eqx_multimodal.guide import synthetic_batch, SyntheticConfig, token_groups
from eqx_multimodal.metrics import retrieval_metrics_from_scores


def group_counts(tokens: np.ndarray, latent_dim: int) -> np.ndarray:
    """How many tokens of each text belong to each latent dimension's group."""
    tokens = np.asarray(tokens)
    counts = np.zeros((tokens.shape[0], latent_dim))
    np.add.at(counts, (np.arange(tokens.shape[0])[:, None], tokens % latent_dim), 1.0)
    return counts


def log_normaliser(z_shown: np.ndarray, sizes: np.ndarray, alignment: float) -> np.ndarray:
    """`log sum_j c_j exp(alignment z_j)`, the latents not shown at their prior mean
    of `exp(alignment z)`, which is `exp(alignment^2 / 2)`."""
    k = z_shown.shape[1]
    shown = np.exp(alignment * z_shown) @ sizes[:k]
    return np.log(shown + sizes[k:].sum() * np.exp(alignment**2 / 2))


def log_permanent(logits: np.ndarray) -> np.ndarray:
    """`log perm(exp(logits))` of a batch of `(n, n)` matrices, by dynamic programming
    over the subsets of columns (all terms positive, so no cancellation)."""
    batch, n, _ = logits.shape
    shift = logits.max(axis=2, keepdims=True)
    m = np.exp(logits - shift)
    dp = np.zeros((batch, 1 << n))
    dp[:, 0] = 1.0
    masks = sorted(range(1, 1 << n), key=lambda s: bin(s).count("1"))
    for mask in masks:
        row = bin(mask).count("1") - 1
        bits = [i for i in range(n) if mask >> i & 1]
        dp[:, mask] = sum(dp[:, mask ^ (1 << i)] * m[:, row, i] for i in bits)
    return np.log(dp[:, -1]) + shift.sum(axis=(1, 2))


def set_scores(counts: np.ndarray, z: np.ndarray, alignment: float, chunk: int = 25):
    """`log sum over matchings exp(sum_k n_k alignment z_match(k))`, text x gallery."""
    g = z.shape[0]
    out = np.zeros((counts.shape[0], g))
    for start in range(0, counts.shape[0], chunk):
        block = counts[start : start + chunk]
        logits = alignment * block[:, None, :, None] * z[None, :, None, :]
        out[start : start + chunk] = log_permanent(logits.reshape(-1, *logits.shape[2:])).reshape(
            block.shape[0], g
        )
    return out


def unsigned_scores(counts: np.ndarray, z: np.ndarray, sizes: np.ndarray, alignment: float):
    """The likelihood of the text summed over the sign patterns of the shown `|z|`."""
    k = z.shape[1]
    signs = np.asarray(list(itertools.product([-1.0, 1.0], repeat=k)))
    out = np.full((counts.shape[0], z.shape[0]), -np.inf)
    for s in signs:
        signed = np.abs(z) * s
        score = alignment * counts[:, :k] @ signed.T
        score = score - counts.sum(1, keepdims=True) * log_normaliser(signed, sizes, alignment)
        out = np.logaddexp(out, score)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alignment", type=float, default=0.8)
    parser.add_argument("--gallery", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    config = SyntheticConfig(modalities=["text"], alignment=args.alignment)
    batch = synthetic_batch(jnp.arange(args.gallery), key=jr.key(args.seed), config=config)
    z = np.asarray(batch["latent"], dtype=np.float64)
    counts = group_counts(batch["text"], config.latent_dim)
    sizes = token_groups(config.vocab_size, config.latent_dim).astype(np.float64)
    a, length = args.alignment, config.seq_length

    centred = counts - length * sizes / config.vocab_size
    # One size for the 10 audio groups, so that the normaliser does not tell them apart.
    set_sizes = np.concatenate([np.full(10, sizes[:10].mean()), sizes[10:]])

    def linear(n, k):
        return a * n[:, :k] @ z[:, :k].T

    def normaliser(zk, group_sizes=sizes):
        return length * log_normaliser(zk, group_sizes, a)[None, :]

    start = time.perf_counter()
    rows = [
        ("text->image", "z_0..7 exact, in order", linear(counts, 8) - normaliser(z[:, :8])),
        ("text->image", "  centred counts only", linear(centred, 8)),
        ("text->image", "  raw counts only", linear(counts, 8)),
        ("text->image", "z_0..7 without their signs", unsigned_scores(counts, z[:, :8], sizes, a)),
        ("text->audio", "z_0..9 exact, in order", linear(counts, 10) - normaliser(z[:, :10])),
    ]
    as_set = set_scores(counts[:, :10], z[:, :10], a)
    rows += [
        ("text->audio", "z_0..9 exact, as a set", as_set - normaliser(z[:, :10], set_sizes)),
        ("text->audio", "  centred counts only", set_scores(centred[:, :10], z[:, :10], a)),
        ("text->audio", "  raw counts only", as_set),
    ]
    print(
        f"alignment {a:g}, {args.gallery}-way, seed {args.seed} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print("| pair | view of the latent | R@1 | R@5 | R@10 | median rank |")
    print("|---|---|---|---|---|---|")
    for pair, view, scores in rows:
        m = retrieval_metrics_from_scores(scores)
        print(
            f"| {pair} | {view} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | "
            f"{m['recall@10']:.3f} | {m['median_rank']:.0f} |"
        )


if __name__ == "__main__":
    main()

"""How much can text retrieval reach? Reference recalls for text->image and text->audio.

The guide's text is `seq_length` tokens drawn i.i.d. from `softmax(alignment * tile(z))`
over the vocabulary, so token `t` belongs to latent dimension `t % latent_dim`, and the
token counts `n_j` of the `latent_dim` groups are all the text says. Given a view of the
latent, the log-likelihood of a text is

    sum_j n_j alignment z_j - seq_length log(sum_j c_j exp(alignment z_j))

(`c_j` tokens in group j). An image shows `z_0..z_7` (grating k has frequency 2 + k), an
audio clip `z_0..z_9` as 10 tones in no order. This script ranks a held-out gallery
(1000-way, alignment 0.8 by default) by that likelihood, with latents the gallery does
not show replaced by their prior mean inside the normaliser, for these views:

- `image, z_0..7 exact`: the latents an image shows, known exactly and in order. This is
  what a matched filter with no image noise could reach; at alignment 0.8 the image
  leaves the sign of many `z_k` ambiguous (see `image_information.py`), so no image
  tower reaches it.
- `image, |z_0..7| only`: the same without the signs (the likelihood summed over the
  `2^8` sign patterns).
- `audio, z_0..9 as a set`: the latents an audio clip shows, exactly, but in no order:
  the likelihood summed over the `10!` ways of matching tones to groups (a permanent,
  computed by dynamic programming over subsets). Nothing that sees the waveform knows
  which tone is which group, so this bounds text->audio from above, up to the
  plug-in normaliser.
- `... without normaliser`: the same score without its second term, which depends
  only on the gallery item: an embedding that is a linear function of the token counts
  with nothing constant in it (a centred, bias-free text tower) cannot express it.

    python benchmarks/text_information.py [--alignment 0.8] [--gallery 1000] [--seed 3]
"""

import argparse
import itertools
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from eqx_multimodal.data import synthetic_batch, SyntheticConfig
from eqx_multimodal.data._synthetic import token_groups
from eqx_multimodal.metrics import retrieval_metrics_from_scores
from eqx_multimodal.metrics._alignment import folded_token_histogram


def group_counts(tokens: np.ndarray, vocab_size: int, latent_dim: int) -> np.ndarray:
    """How many tokens of each text belong to each latent dimension's group."""
    sizes = token_groups(vocab_size, latent_dim)
    fold = jax.vmap(lambda t: folded_token_histogram(t, latent_dim, vocab_size))
    return np.asarray(fold(jnp.asarray(tokens)), dtype=np.float64) * sizes


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
    batch = synthetic_batch(jr.key(args.seed), jnp.arange(args.gallery), config=config)
    z = np.asarray(batch["latent"], dtype=np.float64)
    counts = group_counts(batch["text"], config.vocab_size, config.latent_dim)
    sizes = token_groups(config.vocab_size, config.latent_dim).astype(np.float64)
    a, length = args.alignment, config.seq_length

    def indexed(k):
        return a * counts[:, :k] @ z[:, :k].T

    def normaliser(zk):
        return length * log_normaliser(zk, sizes, a)[None, :]

    start = time.perf_counter()
    rows = [
        ("text->image", "z_0..7 exact, in order", indexed(8) - normaliser(z[:, :8])),
        ("text->image", "  without normaliser", indexed(8)),
        ("text->image", "z_0..7 without their signs", unsigned_scores(counts, z[:, :8], sizes, a)),
        ("text->audio", "z_0..9 exact, in order", indexed(10) - normaliser(z[:, :10])),
    ]
    as_set = set_scores(counts[:, :10], z[:, :10], a)
    rows += [
        ("text->audio", "z_0..9 as a set (bound)", as_set - normaliser(z[:, :10])),
        ("text->audio", "  without normaliser", as_set),
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

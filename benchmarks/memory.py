"""Peak memory of iterating a large lazy dataset of the guide's full configuration.

Iterates `--num-samples` (default 200,000) samples in batches of 256 and reports the
process's peak resident set size: the lazy dataset never holds more than a batch.

    python benchmarks/memory.py [--num-samples 200000]
"""

import argparse
import resource
import time

import jax
import jax.random as jr

import eqx_multimodal as em


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    dataset = em.SyntheticDataset(em.SyntheticConfig(), args.num_samples, key=jr.key(0))
    before = peak_rss_mb()
    start = time.perf_counter()
    count = 0
    for batch in dataset.batches(args.batch_size, shuffle=False):
        jax.block_until_ready(batch)
        count += batch["latent"].shape[0]
    seconds = time.perf_counter() - start
    print(
        f"{count:,} samples in batches of {args.batch_size}: {seconds:.1f} s "
        f"({count / seconds:,.0f} samples/s); peak RSS {peak_rss_mb():,.0f} MB "
        f"({before:,.0f} MB after start-up); one batch is "
        f"{args.batch_size * 77_000 / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    main()

"""Samples/s of the guide's full configuration: this library beside a naive baseline.

The baseline is the guide's formulas transcribed directly (`guide/_formulas.py`:
`jax.random.categorical` over the whole vocabulary, 160,000 sines an audio clip),
`jax.jit(jax.vmap(...))`-ed, measured in the same run on the same machine. Each figure
is the median of `--repeats` timed runs after a warm-up that compiles everything.

    python benchmarks/generation.py [--sizes 1000,10000] [--repeats 3] [--batch-size 256]
"""

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import jax.random as jr

import eqx_multimodal as em
from eqx_multimodal import nnx as shim
from eqx_multimodal.cli._tables import format_table
from eqx_multimodal.guide import _formulas as ref


CONFIG = em.SyntheticConfig()  # the guide's full configuration


def naive_item(key, index):
    item_key = jr.fold_in(key, index)
    latent_key, sample_key = jr.split(item_key)
    latent = jr.normal(latent_key, (CONFIG.latent_dim,))
    image_key, text_key, audio_key = jr.split(sample_key, 3)
    a = CONFIG.alignment
    return {
        "image": ref.reference_image(latent, a, key=image_key, shape=CONFIG.image_shape),
        "text": ref.reference_text(
            latent, a, key=text_key, vocab_size=CONFIG.vocab_size, seq_length=CONFIG.seq_length
        ),
        "audio": ref.reference_audio(
            latent, a, key=audio_key, sample_rate=CONFIG.sample_rate, duration=CONFIG.duration
        ),
        "latent": latent,
    }


naive_batch = jax.jit(jax.vmap(naive_item, in_axes=(None, 0)))


def run_naive(n, batch_size, key):
    out = None
    for start in range(0, n, batch_size):
        out = naive_batch(key, jnp.arange(start, start + batch_size))
    return jax.block_until_ready(out)


def run_dataset(n, batch_size, key):
    dataset = em.SyntheticDataset(CONFIG, n, key=key)
    out = None
    for out in dataset.batches(batch_size, shuffle=False, drop_last=True):
        pass
    return jax.block_until_ready(out)


def run_shim(n, batch_size, key):
    dataset = shim.create_synthetic_multi_modal_dataset(
        modalities=["image", "text", "audio"], num_samples=n, rngs=shim.Rngs(key)
    )
    out = None
    for _ in range(n // batch_size):
        out = dataset.get_batch(batch_size)
    return jax.block_until_ready(out)


def timed(fn, *args, repeats):
    fn(*args)  # warm-up: compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    key = jr.key(0)
    print(
        f"machine: {platform.machine()} {jax.devices()[0].device_kind}, "
        f"{jax.device_count()} device(s); jax {jax.__version__}; "
        f"batch {args.batch_size}; median of {args.repeats}"
    )
    rows = []
    for n in sizes:
        n_batches = max(1, n // args.batch_size)
        n_eff = n_batches * args.batch_size
        naive = timed(run_naive, n_eff, args.batch_size, key, repeats=args.repeats)
        rows.append(["naive jit(vmap(guide))", n_eff, naive, n_eff / naive, 1.0])
        for name, fn in (
            ("SyntheticDataset.batches", run_dataset),
            ("nnx shim get_batch", run_shim),
        ):
            t = timed(fn, n_eff, args.batch_size, key, repeats=args.repeats)
            rows.append([name, n_eff, t, n_eff / t, naive / t])
    # First call for a configuration nobody has compiled yet (a new sequence length).
    fresh = CONFIG.replace(seq_length=CONFIG.seq_length + 1)
    start = time.perf_counter()
    jax.block_until_ready(em.synthetic_batch(jnp.arange(args.batch_size), key=key, config=fresh))
    compile_seconds = time.perf_counter() - start
    print(
        format_table(
            ["method", "samples", "median s", "samples/s", "x naive"],
            [[m, n, f"{t:.3f}", f"{r:,.0f}", f"{x:.2f}"] for m, n, t, r, x in rows],
        )
    )
    print(f"first call for a new configuration (compilation included): {compile_seconds:.2f} s")


if __name__ == "__main__":
    main()

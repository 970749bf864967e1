"""Training on a paired folder of files against the same data already in memory.

Writes `--samples` synthetic samples as a paired folder (PNG, WAV, JSON lines), then
times the training step of the same model (the generic towers, as for your own data)
fed two ways, one after the other in this run: streamed from the folder (`PairedFolder`:
files decoded by grain's reading threads while the model trains) and from the folder
loaded into memory (`PairedDataset`). Prints the median steps/s of each and their
ratio (the target: the folder at >= 80% of memory's speed).

    python benchmarks/folder_training.py [--samples 1024] [--steps 40] [--batch-size 64]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jax
import jax.random as jr

import eqx_multimodal as em
from eqx_multimodal.cli._tables import format_table
from eqx_multimodal.data import BatchStream
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.training import init_state, make_batch_step, TrainConfig


def time_steps(stream, config, steps):
    step = make_batch_step(config)
    state = init_state(config)
    times = []
    batches = stream.batches(0, steps + 3)
    state, metrics = step(state, next(batches))  # compile
    jax.block_until_ready(metrics["loss"])
    for _ in range(steps + 2):
        start = time.perf_counter()
        state, metrics = step(state, next(batches))
        jax.block_until_ready(metrics["loss"])
        times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times[2:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = em.SyntheticConfig()  # the guide's full shapes: 32x32x3, 50 tokens, 1 s
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        data = em.SyntheticDataset(config, args.samples, key=jr.key(0)).materialise()[:]
        path = em.save_paired_folder(
            Path(tmp) / "folder",
            {m: data[m] for m in config.modalities},
            sample_rate=config.sample_rate,
        )
        written = time.perf_counter() - start
        folder = em.PairedFolder(path)
        start = time.perf_counter()
        memory = folder.load()
        loaded = time.perf_counter() - start
        train = TrainConfig(
            data=folder.spec, batch_size=args.batch_size, loss=LossWeights(reconstruction={})
        )
        rows = []
        rates = {}
        for name, source in (
            ("in memory (PairedDataset)", memory),
            ("folder (PairedFolder)", folder),
        ):
            stream = BatchStream(source, args.batch_size, seed=0, threads=args.threads)
            rates[name] = time_steps(stream, train, args.steps)
        base = rates["in memory (PairedDataset)"]
        for name, rate in rates.items():
            rows.append([name, f"{rate:.2f}", f"{rate / base:.2f}"])
    device = jax.devices()[0]
    print(
        f"{args.samples} samples of the guide's shapes ({written:.0f} s to write, "
        f"{loaded:.0f} s to load), generic towers, batch {args.batch_size}, "
        f"{args.threads} reading threads; {device.platform}, jax {jax.__version__}"
    )
    print(format_table(["data", "steps/s (median)", "x in memory"], rows))


if __name__ == "__main__":
    main()

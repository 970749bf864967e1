"""Peak memory of streaming a large paired folder: nothing loads it whole.

Writes (or reuses, with `--folder`) a folder of `--samples` synthetic samples (32x32x3
PNG images, 0.25 s WAV clips at 16 kHz, token lines), indexes it (`PairedFolder`: the
manifest and every file's header) and streams `--steps` batches from it as training
does (`BatchStream`: a fresh permutation an epoch, files decoded by grain's threads).
Prints the process's peak resident memory after each phase beside the size the decoded
folder would take in memory.

    python benchmarks/folder_memory.py [--samples 200000] [--steps 200] [--folder DIR]
"""

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax.numpy as jnp
import jax.random as jr
import numpy as np

import eqx_multimodal as em
from eqx_multimodal.cli._tables import format_table
from eqx_multimodal.data import BatchStream


CONFIG = em.SyntheticConfig(duration=0.25)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write(path: Path, samples: int) -> None:
    dataset = em.SyntheticDataset(CONFIG, samples, key=jr.key(0))
    with em.data.PairedFolderWriter(
        path, modalities=CONFIG.modalities, sample_rate=CONFIG.sample_rate
    ) as writer:
        for start in range(0, samples, 1024):
            batch = dataset[start : min(start + 1024, samples)]
            writer.write({m: np.asarray(batch[m]) for m in CONFIG.modalities})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--folder", type=Path, default=None, help="keep the folder here")
    parser.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        write(args.folder, args.samples)
        return
    tmp = None
    path = args.folder
    if path is None:
        tmp = tempfile.mkdtemp()
        path = Path(tmp) / "folder"
    rows = [["start", f"{peak_mb():,.0f}", "-"]]
    if not path.exists():
        # In another process, so that this one's peak is the reading's.
        start = time.perf_counter()
        command = [sys.executable, __file__, "--write-only", "--folder", str(path)]
        subprocess.run([*command, "--samples", str(args.samples)], check=True)
        rows.append(
            ["write the folder (another process)", "-", f"{time.perf_counter() - start:.0f}"]
        )
    start = time.perf_counter()
    folder = em.PairedFolder(path)
    rows.append(["index it", f"{peak_mb():,.0f}", f"{time.perf_counter() - start:.0f}"])
    stream = BatchStream(folder, args.batch_size, seed=0)
    start = time.perf_counter()
    for batch in stream.batches(0, args.steps):
        jnp.asarray(batch["image"]).block_until_ready()
    seconds = time.perf_counter() - start
    rows.append(
        [f"stream {args.steps} batches of {args.batch_size}", f"{peak_mb():,.0f}", f"{seconds:.0f}"]
    )
    sample = sum(np.asarray(v).nbytes for k, v in folder.read(0).items() if k != "present")
    whole = len(folder) * sample / 2**20
    print(
        f"{len(folder):,} samples of {CONFIG.image_shape} images, {CONFIG.num_audio_samples} "
        f"audio samples and {CONFIG.seq_length} tokens: {whole:,.0f} MB decoded; "
        f"{args.steps * args.batch_size / seconds:,.0f} samples/s streamed"
    )
    print(format_table(["phase", "peak RSS (MB)", "seconds"], rows))
    if tmp is not None:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()

"""`eqx-multimodal generate`: make a synthetic aligned dataset and save it as .npz."""

import argparse
import os
import time
from pathlib import Path
from typing import Any

from ._args import (
    add_data_options,
    check_out_file,
    config_from_args,
    non_negative_int,
    positive_int,
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "generate",
        help="make a synthetic aligned dataset and save it as .npz",
        description="Make a synthetic aligned dataset (item i a pure function of the "
        "seed and i) and save it as a .npz with one array a modality plus the latents "
        "and alignment scores.",
    )
    parser.add_argument(
        "--num-samples", type=positive_int, default=1000, help="samples to make (default 1000)"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--batch-size", type=positive_int, default=256, help="samples made at a time (default 256)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data.npz"), help="output .npz file (default data.npz)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_data_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import jax.random as jr
    import numpy as np

    from .._progress import format_table, Progress
    from ..data import SyntheticDataset

    check_out_file(args.out, ".npz")
    config = config_from_args(args)
    dataset = SyntheticDataset(config, args.num_samples, key=jr.key(args.seed))
    batches = dataset.batches(args.batch_size, shuffle=False)

    arrays: dict[str, Any] = {}
    start = time.perf_counter()
    with Progress(len(dataset), "generate", unit="samples", enabled=not args.quiet) as bar:
        offset = 0
        for batch in batches:
            batch = {name: np.asarray(value) for name, value in batch.items()}
            size = len(batch["latent"])
            for name, value in batch.items():
                if name not in arrays:
                    arrays[name] = np.empty((len(dataset),) + value.shape[1:], value.dtype)
                arrays[name][offset : offset + size] = value
            offset += size
            bar.update(size)
    elapsed = time.perf_counter() - start

    tmp = args.out.with_name(args.out.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, args.out)

    if not args.quiet:
        rows = [
            [
                name,
                "x".join(map(str, a.shape)),
                str(a.dtype),
                float(a.min()),
                float(a.max()),
                float(a.mean()),
            ]
            for name, a in arrays.items()
        ]
        print(format_table(["array", "shape", "dtype", "min", "max", "mean"], rows))
        print(
            f"{len(dataset)} samples in {elapsed:.2f} s ({len(dataset) / elapsed:,.0f} "
            f"samples/s, compilation included) -> {args.out}"
        )
    return 0

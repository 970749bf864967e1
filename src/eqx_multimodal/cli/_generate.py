"""`eqx-multimodal generate`: make a synthetic aligned dataset and save it as .npz."""

import argparse
import time
from pathlib import Path
from typing import Any

from ._args import add_data_options, check_out_file, config_from_args


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "generate",
        help="make a synthetic aligned dataset and save it as .npz",
        description="Make a synthetic aligned dataset (item i a pure function of the "
        "seed and i) and save it as a .npz with one array a modality plus the latents "
        "and alignment scores.",
    )
    parser.add_argument(
        "--num-samples", type=int, default=1000, help="samples to make (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed, 0 to 2**64 - 1 (default 0)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="samples made at a time (default 256; at most --num-samples)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data.npz"), help="output .npz file (default data.npz)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_data_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .._io import write_atomic
    from .._progress import progress
    from .._validation import check_fits, check_int, seed_key
    from ..guide import SyntheticDataset
    from ._tables import format_table

    check_out_file(args.out, ".npz")
    config = config_from_args(args)
    num_samples = check_int(args.num_samples, "num_samples")
    check_int(args.batch_size, "batch_size")
    check_fits(num_samples * config.sample_bytes, "the dataset", "num_samples")
    dataset = SyntheticDataset(config, num_samples, key=seed_key(args.seed))
    batches = dataset.batches(args.batch_size, shuffle=False)

    arrays: dict[str, Any] = {}
    start = time.perf_counter()
    with progress(len(dataset), "generate", unit="samples", enabled=not args.quiet) as bar:
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
    write_atomic(args.out, lambda f: np.savez(f, **arrays))

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

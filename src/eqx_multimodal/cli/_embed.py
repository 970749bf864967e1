"""`eqx-multimodal embed`: the shared-latent embeddings of a folder's samples, for use
in other tools."""

import argparse
import pathlib
from typing import Any

from ._args import check_out_file
from ._data_options import add_run_options, load_run_of, run_folder
from ._errors import CommandError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "embed",
        help="embed a paired folder with a trained run (.npz)",
        description="Embed every sample of a paired folder (read as the run read its "
        "data) into the run's shared latent space, and save the embeddings as a .npz: "
        "one (N, latent_dim) array a modality (NaN rows for samples without it), the "
        "sample ids, and the labels when the folder has them.",
    )
    add_run_options(parser, data_help="the paired folder", data_required=True)
    parser.add_argument(
        "--out", type=pathlib.Path, required=True, metavar="FILE.npz", help="the output file"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .._io import write_atomic
    from .._progress import phase
    from ..training import embed
    from ..training._evaluate import non_finite

    check_out_file(args.out, ".npz")
    config, state, step = load_run_of(args)
    folder = run_folder(args.checkpoint, config, args.data, args.split)
    with phase(f"embedding {len(folder)} samples of {args.data}", enabled=not args.quiet):
        dataset = folder.load()
        items = dataset[:]
        latents = embed(state.model, items)
    problem = non_finite(latents)
    if problem is not None:
        raise CommandError(
            f"{problem}: the checkpoint (step {step} of {args.checkpoint}) is not usable "
            "(a diverged run?)"
        )
    arrays: dict[str, Any] = {"ids": np.asarray(folder.ids)}
    present = items.get("present", {})
    for modality, values in latents.items():
        mask = np.asarray(present.get(modality, np.ones(len(values), bool)))
        arrays[modality] = np.where(mask[:, None], values, np.nan).astype(np.float32)
    if dataset.labels is not None:
        arrays["labels"] = np.asarray(
            [dataset.label_names[i] if i >= 0 else "" for i in np.asarray(dataset.labels)]
        )
    write_atomic(args.out, lambda f: np.savez(f, **arrays))
    if not args.quiet:
        shapes = ", ".join(
            f"{m} {a.shape}" for m, a in arrays.items() if m not in ("ids", "labels")
        )
        print(f"{len(folder)} samples (checkpoint step {step}) -> {args.out}: {shapes}")
    return 0

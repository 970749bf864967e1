"""`eqx-multimodal evaluate`: retrieval and reconstruction of a trained run."""

import argparse
import json
import pathlib
from typing import Any

from ._args import non_negative_int, positive_int, unit_float
from ._main import CommandError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="evaluate a trained run on a held-out gallery",
        description="Cross-modal retrieval (recall@1/5/10, median rank) for every ordered "
        "pair of the run's modalities, and each decoder's reconstruction loss, on a "
        "held-out gallery made from --seed.",
    )
    parser.add_argument(
        "--checkpoint",
        type=pathlib.Path,
        required=True,
        metavar="DIR",
        help="the run's folder (written by train)",
    )
    parser.add_argument(
        "--alignment",
        type=unit_float,
        default=None,
        help="alignment of the gallery (default: the run's)",
    )
    parser.add_argument(
        "--gallery", type=positive_int, default=1000, help="gallery size (default 1000)"
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=None,
        help="seed of the gallery (default: the run's, on a held-out stream)",
    )
    parser.add_argument(
        "--modalities",
        default=None,
        help="comma-separated modalities to evaluate (default: the run's)",
    )
    parser.add_argument(
        "--json",
        type=pathlib.Path,
        default=None,
        metavar="FILE",
        help="also write the results as JSON",
    )
    parser.add_argument("--quiet", action="store_true", help="no table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .._progress import format_table
    from ..training import CheckpointError, evaluate, load_run, stream_key, TEST_STREAM
    from ._train import _retrieval_table

    if args.json is not None and args.json.parent and not args.json.parent.exists():
        raise CommandError(f"--json folder {str(args.json.parent)!r} does not exist")
    try:
        config, state = load_run(args.checkpoint)
    except CheckpointError as error:
        raise CommandError(str(error)) from None
    model = state.model
    chosen = None
    if args.modalities is not None:
        chosen = [m.strip() for m in args.modalities.split(",") if m.strip()]
        if len(chosen) < 2 or any(m not in model.modalities for m in chosen):
            raise CommandError(
                f"--modalities must name at least two of the run's modalities "
                f"{list(model.modalities)}, got {args.modalities!r}"
            )
    data = config.synthetic_config()
    if args.alignment is not None:
        data = data.replace(alignment=args.alignment)
    seed = config.seed if args.seed is None else args.seed
    result = evaluate(
        model, data, gallery=args.gallery, key=stream_key(seed, TEST_STREAM), modalities=chosen
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    if not args.quiet:
        print(_retrieval_table(result, format_table))
    return 0

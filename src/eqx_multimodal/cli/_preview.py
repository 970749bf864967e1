"""`eqx-multimodal preview`: one latent at several alignments, and the alignment report."""

import argparse
from pathlib import Path
from typing import Any

from .._types import MODALITIES
from ..viz._figure import DEFAULT_ALIGNMENTS
from ._args import (
    add_data_options,
    check_out_file,
    config_from_args,
    non_negative_int,
    positive_int,
    unit_floats,
)
from ._main import CommandError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "preview",
        help="draw one latent at several alignments (PNG; needs matplotlib)",
        description="Draw one latent rendered at each alignment strength: a column per "
        "alignment, rows for the image, the audio (spectrogram and first 20 ms) and the "
        "tokens. With --report, also measure each modality's dependence on the latent: "
        "a table, and a plot saved beside --out as NAME-alignment.png.",
    )
    parser.add_argument(
        "--alignment",
        dest="alignments",
        metavar="A,B,...",
        type=unit_floats,
        default=DEFAULT_ALIGNMENTS,
        help="alignments, one column each (default 0,0.3,0.6,0.9,1)",
    )
    parser.add_argument(
        "--out",
        metavar="PNG",
        type=Path,
        default=Path("preview.png"),
        help="output PNG (default preview.png)",
    )
    parser.add_argument(
        "--seed", metavar="N", type=non_negative_int, default=0, help="seed (default 0)"
    )
    parser.add_argument(
        "--report", action="store_true", help="also print and plot the alignment report"
    )
    parser.add_argument(
        "--num-samples",
        metavar="N",
        type=positive_int,
        default=256,
        help="samples an alignment for --report (default 256)",
    )
    parser.add_argument(
        "--dpi", metavar="N", type=positive_int, default=100, help="pixels an inch (default 100)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    add_data_options(parser, alignment=None)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import jax.random as jr

    from .._progress import format_table, Progress
    from ..viz import alignment_figure, alignment_sweep, preview_figure, require_matplotlib

    check_out_file(args.out, ".png")
    try:
        require_matplotlib()
    except ImportError as error:
        raise CommandError(str(error)) from None
    config = config_from_args(args, alignment=args.alignments[0])
    preview_key, report_key = jr.split(jr.key(args.seed))
    preview_figure(args.alignments, key=preview_key, config=config, path=args.out, dpi=args.dpi)
    if not args.quiet:
        print(f"preview -> {args.out}")
    if not args.report:
        return 0

    sweep: dict[float, dict[str, float]] = {}
    with Progress(len(args.alignments), "report", unit="alignments", enabled=not args.quiet) as bar:
        for alignment in args.alignments:
            sweep.update(
                alignment_sweep(
                    [alignment], key=report_key, config=config, num_samples=args.num_samples
                )
            )
            bar.update(1)
    report = args.out.with_name(f"{args.out.stem}-alignment.png")
    alignment_figure(sweep, path=report, dpi=args.dpi)
    if not args.quiet:
        modalities = [m for m in MODALITIES if m in config.modalities]
        rows = [[a, *(sweep[a][m] for m in modalities)] for a in args.alignments]
        print(
            f"dependence on the latent (mean correlation over {args.num_samples} samples; "
            "0 = none, 1 = fully determined)"
        )
        print(format_table(["alignment", *modalities], rows))
        print(f"report -> {report}")
    return 0

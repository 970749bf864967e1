"""`eqx-multimodal preview`: one latent at several alignments, and the alignment report."""

import argparse
from pathlib import Path
from typing import Any

from ._args import add_data_options, check_out_file, config_from_args, numbers
from ._data_options import add_folder_options, open_folder
from ._errors import CommandError


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
        type=numbers,
        default=(0.0, 0.3, 0.6, 0.9, 1.0),
        help="alignments, one column each (default 0,0.3,0.6,0.9,1)",
    )
    parser.add_argument(
        "--out",
        metavar="PNG",
        type=Path,
        default=Path("preview.png"),
        help="output PNG (default preview.png)",
    )
    parser.add_argument("--seed", metavar="N", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--report", action="store_true", help="also print and plot the alignment report"
    )
    parser.add_argument(
        "--num-samples",
        metavar="N",
        type=int,
        default=256,
        help="samples an alignment for --report (default 256)",
    )
    parser.add_argument(
        "--dpi", metavar="N", type=int, default=100, help="pixels an inch (default 100)"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    parser.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        default=None,
        help="draw the first --rows samples of this paired folder instead (a row a sample, "
        "a column a modality, yours included: --import the module that registers it)",
    )
    parser.add_argument(
        "--rows", metavar="N", type=int, default=4, help="samples drawn with --data (default 4)"
    )
    add_folder_options(parser)
    add_data_options(parser, alignment=None)
    parser.set_defaults(run=run)


def _preview_folder(args: argparse.Namespace, dpi: int) -> int:
    import numpy as np

    from .._validation import check_int
    from ..viz import samples_figure

    if args.report:
        raise CommandError("--report measures the synthetic data's alignment; not with --data")
    rows = check_int(args.rows, "rows")
    folder = open_folder(args, args.data)
    read = [folder.read(i) for i in range(min(rows, len(folder)))]
    items = {m: np.stack([r[m] for r in read]) for m in folder.modalities}
    samples_figure(items, rows=rows, path=args.out, dpi=dpi)
    if not args.quiet:
        print(f"{len(read)} samples of {args.data} ({', '.join(folder.modalities)}) -> {args.out}")
    return 0


#: Pixels an inch at most: a figure of a few inches stays a few hundred megapixels.
MAX_DPI = 1200


def run(args: argparse.Namespace) -> int:
    import jax.random as jr

    from .._progress import progress
    from .._validation import check_alignments, check_int, seed_key
    from ..viz import alignment_figure, alignment_sweep, preview_figure, require_matplotlib
    from ._tables import format_table

    check_out_file(args.out, ".png")
    try:
        require_matplotlib()
    except ImportError as error:
        raise CommandError(str(error)) from None
    alignments = check_alignments(args.alignments)
    num_samples = check_int(args.num_samples, "num_samples")
    dpi = check_int(args.dpi, "dpi", maximum=MAX_DPI)
    if args.data is not None:
        return _preview_folder(args, dpi)
    config = config_from_args(args, alignment=alignments[0])
    preview_key, report_key = jr.split(seed_key(args.seed))
    preview_figure(alignments, key=preview_key, config=config, path=args.out, dpi=dpi)
    if not args.quiet:
        print(f"preview -> {args.out}")
    if not args.report:
        return 0

    sweep: dict[float, dict[str, float]] = {}
    with progress(len(alignments), "report", unit="alignments", enabled=not args.quiet) as bar:
        for alignment in alignments:
            sweep.update(
                alignment_sweep([alignment], key=report_key, config=config, num_samples=num_samples)
            )
            bar.update(1)
    report = args.out.with_name(f"{args.out.stem}-alignment.png")
    alignment_figure(sweep, path=report, dpi=dpi)
    if not args.quiet:
        modalities = list(config.modalities)
        rows = [[a, *(sweep[a][m] for m in modalities)] for a in alignments]
        print(
            f"dependence on the latent (mean correlation over {num_samples} samples; "
            "0 = none, 1 = fully determined)"
        )
        print(format_table(["alignment", *modalities], rows))
        print(f"report -> {report}")
    return 0

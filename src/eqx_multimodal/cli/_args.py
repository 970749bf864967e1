"""Options shared by the subcommands.

The argument types only read the text (an integer, a number, a comma-separated list);
whether a value is allowed is decided by the library's own checks, run with the
command line's names for the arguments (`argument_names(FLAGS)`), so that the command
line and the Python API refuse the same values with the same one-line messages.
"""

import argparse
from pathlib import Path
from typing import Any

from .._types import MODALITIES
from ._errors import CommandError


#: The flag of each library argument that a subcommand passes on.
FLAGS = {
    name: "--" + name.replace("_", "-")
    for name in (
        "alignment",
        "modalities",
        "image_shape",
        "vocab_size",
        "seq_length",
        "sample_rate",
        "duration",
        "steps",
        "batch_size",
        "learning_rate",
        "seed",
        "cycle",
        "kl_weight",
        "fusion",
        "samples",
        "judge_steps",
        "reference_gallery",
        "reconstruction",
        "gallery",
        "val_gallery",
        "num_samples",
        "dpi",
        "log_every",
        "checkpoint_every",
        "keep",
        "devices",
        "image_size",
        "num_processes",
        "process_id",
    )
}
FLAGS["coordinator_address"] = "--coordinator"
FLAGS["alignments"] = "--alignment"
FLAGS["curriculum_start"] = "--curriculum"


def _items(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def integers(text: str) -> tuple[int, ...]:
    """`8,8,3` (or `8x8x3`) as integers."""
    try:
        return tuple(int(part) for part in _items(text.replace("x", ",")))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def numbers(text: str) -> tuple[float, ...]:
    """`0,0.5,1` as numbers."""
    try:
        return tuple(float(part) for part in _items(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def names(text: str) -> tuple[str, ...]:
    """`image,text` as names."""
    return tuple(_items(text))


def add_data_options(parser: argparse.ArgumentParser, *, alignment: float | None = 0.8) -> None:
    """The synthetic data's options, shared by every subcommand that makes data.

    `alignment=None` leaves `--alignment` to the subcommand (`preview` takes a list).
    """
    group = parser.add_argument_group("synthetic data")
    if alignment is not None:
        group.add_argument(
            "--alignment",
            type=float,
            default=alignment,
            help=f"alignment strength in [0, 1] (default {alignment})",
        )
    group.add_argument(
        "--modalities",
        type=names,
        default=MODALITIES,
        help="comma-separated modalities (default image,text,audio)",
    )
    group.add_argument(
        "--image-shape", type=integers, default=(32, 32, 3), help="image H,W,C (default 32,32,3)"
    )
    group.add_argument(
        "--vocab-size", type=int, default=1000, help="text vocabulary size (default 1000)"
    )
    group.add_argument("--seq-length", type=int, default=50, help="tokens a text (default 50)")
    group.add_argument(
        "--sample-rate", type=int, default=16000, help="audio sample rate in Hz (default 16000)"
    )
    group.add_argument(
        "--duration", type=float, default=1.0, help="audio duration in seconds (default 1.0)"
    )


def config_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """The `SyntheticConfig` of the data options, with `overrides` (e.g. `alignment=0.0`)."""
    from ..data import SyntheticConfig

    fields = dict(
        modalities=args.modalities,
        image_shape=args.image_shape,
        vocab_size=args.vocab_size,
        seq_length=args.seq_length,
        sample_rate=args.sample_rate,
        duration=args.duration,
    )
    if "alignment" not in overrides:
        fields["alignment"] = args.alignment
    return SyntheticConfig(**fields, **overrides)


def check_out_file(path: Path, suffix: str) -> None:
    """`--out` must end in `suffix` and its folder must exist."""
    if path.suffix != suffix:
        raise CommandError(f"--out must end in {suffix}, got {str(path)!r}")
    if not path.parent.is_dir():
        raise CommandError(f"--out folder {str(path.parent)!r} does not exist")

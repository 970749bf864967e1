"""Options shared by the subcommands.

The argument types only read the text (an integer, a number, a comma-separated list);
whether a value is allowed is decided by the library's own checks, run with the
command line's names for the arguments (`argument_names(FLAGS)`), so that the command
line and the Python API refuse the same values with the same one-line messages.
"""

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
        "generator_steps",
        "temperature",
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
        "rerank_top",
        "anchor",
        "towers",
    )
}
FLAGS.update(out="--out", resume="--resume", overwrite="--overwrite", split_seed="--split-seed")
FLAGS["coordinator_address"] = "--coordinator"
FLAGS["alignments"] = "--alignment"
FLAGS["curriculum_start"] = "--curriculum"


def _items(text: str) -> list[str]:
    """The comma-separated items of `text` (`''` is none); an empty item between commas
    (`0.5,,1`, `image,`) is refused, not dropped."""
    parts = [part.strip() for part in text.split(",")]
    if parts == [""]:
        return []
    if "" in parts:
        raise argparse.ArgumentTypeError(f"an empty item between commas in {text!r}")
    return parts


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


def folder_path(text: str) -> Path:
    """A folder's path: not empty (`''` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}")
    return Path(text)


def names(text: str) -> tuple[str, ...]:
    """`image,text` as names."""
    return tuple(_items(text))


#: The synthetic data's options and their defaults. The options themselves default to
#: None, so that a subcommand can tell an option given from one left out (`given`).
DATA_DEFAULTS: dict[str, Any] = {
    "alignment": 0.8,
    "modalities": ("image", "text", "audio"),  # `guide.GUIDE_MODALITIES` (not imported:
    # the command line loads JAX and the guide only for a subcommand that runs)
    "image_shape": (32, 32, 3),
    "vocab_size": 1000,
    "seq_length": 50,
    "sample_rate": 16000,
    "duration": 1.0,
}


def add_data_options(parser: argparse.ArgumentParser, *, alignment: float | None = 0.8) -> None:
    """The synthetic data's options, shared by every subcommand that makes data.

    `alignment=None` leaves `--alignment` to the subcommand (`preview` takes a list).
    Every option defaults to None (then `DATA_DEFAULTS`, see `config_from_args`).
    """
    group = parser.add_argument_group("synthetic data")
    if alignment is not None:
        group.add_argument(
            "--alignment",
            type=float,
            default=None,
            help=f"alignment strength in [0, 1] (default {alignment})",
        )
        parser.set_defaults(default_alignment=alignment)
    group.add_argument(
        "--modalities",
        type=names,
        default=None,
        help="comma-separated modalities (default image,text,audio)",
    )
    group.add_argument(
        "--image-shape", type=integers, default=None, help="image H,W,C (default 32,32,3)"
    )
    group.add_argument(
        "--vocab-size", type=int, default=None, help="text vocabulary size (default 1000)"
    )
    group.add_argument("--seq-length", type=int, default=None, help="tokens a text (default 50)")
    group.add_argument(
        "--sample-rate", type=int, default=None, help="audio sample rate in Hz (default 16000)"
    )
    group.add_argument(
        "--duration", type=float, default=None, help="audio duration in seconds (default 1.0)"
    )


def data_option(args: argparse.Namespace, name: str) -> Any:
    """The value of the synthetic data's option `name`: given, else its default."""
    value = getattr(args, name, None)
    if value is not None:
        return value
    if name == "alignment":
        return getattr(args, "default_alignment", DATA_DEFAULTS["alignment"])
    return DATA_DEFAULTS[name]


def given(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    """The flags of the options among `names` that were given (neither None nor False;
    a given 0 counts)."""
    values = {n: getattr(args, n, None) for n in names}
    return [
        FLAGS.get(n, "--" + n.replace("_", "-"))
        for n, v in values.items()
        if v is not None and v is not False
    ]


def config_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """The `SyntheticConfig` of the data options, with `overrides` (e.g. `alignment=0.0`)."""
    from ..guide import SyntheticConfig

    fields = {
        name: data_option(args, name)
        for name in DATA_DEFAULTS
        if name != "alignment" and name not in overrides
    }
    if "alignment" not in overrides:
        fields["alignment"] = data_option(args, "alignment")
    return SyntheticConfig(**fields, **overrides)


def check_out_file(path: Path, suffix: str) -> None:
    """`--out` must end in `suffix` and its folder must exist."""
    if path.suffix != suffix:
        raise CommandError(f"--out must end in {suffix}, got {str(path)!r}")
    if not path.parent.is_dir():
        raise CommandError(f"--out folder {str(path.parent)!r} does not exist")

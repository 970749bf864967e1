"""Argument types shared by the subcommands: parse, or fail with a one-line message."""

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._types import MODALITIES
from ._main import CommandError


def _wrap(parse: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def parse_or_fail(text: str) -> Any:
        try:
            return parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None

    parse_or_fail.__name__ = what
    return parse_or_fail


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError
    return value


def _unit_floats(text: str) -> tuple[float, ...]:
    values = tuple(_unit_float(part) for part in text.split(","))
    if len(set(values)) != len(values):
        raise ValueError
    return values


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError
    return value


def _modalities(text: str) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or any(n not in MODALITIES for n in names) or len(set(names)) != len(names):
        raise ValueError
    return tuple(names)


def _shape3(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.replace("x", ",").split(",")]
    if len(parts) != 3 or min(parts) < 1:
        raise ValueError
    return parts[0], parts[1], parts[2]


positive_int = _wrap(_positive_int, "a positive integer")
non_negative_int = _wrap(_non_negative_int, "a non-negative integer")
unit_float = _wrap(_unit_float, "a number in [0, 1]")
unit_floats = _wrap(_unit_floats, "distinct comma-separated numbers in [0, 1]")
positive_float = _wrap(_positive_float, "a positive number")
modalities = _wrap(_modalities, "a comma-separated subset of image,text,audio")
shape3 = _wrap(_shape3, "a shape H,W,C of positive integers")


def add_data_options(parser: argparse.ArgumentParser, *, alignment: float | None = 0.8) -> None:
    """The synthetic data's options, shared by every subcommand that makes data.

    `alignment=None` leaves `--alignment` to the subcommand (`preview` takes a list).
    """
    group = parser.add_argument_group("data")
    if alignment is not None:
        group.add_argument(
            "--alignment",
            type=unit_float,
            default=alignment,
            help=f"alignment strength in [0, 1] (default {alignment})",
        )
    group.add_argument(
        "--modalities",
        type=modalities,
        default=MODALITIES,
        help="comma-separated modalities (default image,text,audio)",
    )
    group.add_argument(
        "--image-shape", type=shape3, default=(32, 32, 3), help="image H,W,C (default 32,32,3)"
    )
    group.add_argument(
        "--vocab-size", type=positive_int, default=1000, help="text vocabulary size (default 1000)"
    )
    group.add_argument(
        "--seq-length", type=positive_int, default=50, help="tokens a text (default 50)"
    )
    group.add_argument(
        "--sample-rate",
        type=positive_int,
        default=16000,
        help="audio sample rate in Hz (default 16000)",
    )
    group.add_argument(
        "--duration",
        type=positive_float,
        default=1.0,
        help="audio duration in seconds (default 1.0)",
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

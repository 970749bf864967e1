"""`eqx-multimodal digits`: build the spoken-digits paired folder (real recordings)."""

import argparse
import time
from typing import Any

from ._args import folder_path
from ._errors import CommandError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "digits",
        help="build the spoken-digits folder: handwritten digits, their spoken names, captions",
        description="Build a small real three-modality paired folder, offline: scikit-learn's "
        "1,797 handwritten digit images (resized), each digit's name spoken by espeak-ng in "
        "a drawn voice, rate and pitch, and a caption, paired by class and labelled by the "
        "digit. Needs scikit-learn, SciPy and Pillow (pip install "
        '"eqx-multimodal[digits]") and espeak-ng (apt-get install espeak-ng).',
    )
    parser.add_argument(
        "--out", type=folder_path, required=True, metavar="DIR", help="a new (or empty) folder"
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=None,
        metavar="N",
        help="how many of the 1,797 digits (default all; a smaller copy is a subset)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    parser.add_argument("--image-size", type=int, default=16, help="image side (default 16)")
    parser.add_argument(
        "--sample-rate", type=int, default=16000, help="audio rate in Hz (default 16000)"
    )
    parser.add_argument("--duration", type=float, default=1.0, help="seconds a clip (default 1.0)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .._progress import phase
    from ..data import build_spoken_digits, check_digits_requirements

    if not args.out.parent.is_dir():
        raise CommandError(f"--out folder {str(args.out.parent)!r} does not exist")
    try:
        check_digits_requirements()
    except (FileNotFoundError, ImportError) as error:
        raise CommandError(str(error)) from None
    start = time.perf_counter()
    try:
        with phase(f"building spoken digits in {args.out}", enabled=not args.quiet):
            build_spoken_digits(
                args.out,
                num_samples=args.num_samples,
                seed=args.seed,
                image_size=args.image_size,
                sample_rate=args.sample_rate,
                duration=args.duration,
            )
    except FileExistsError:
        raise CommandError(
            f"--out {str(args.out)!r} exists and is not an empty folder; choose a new folder"
        ) from None
    except (FileNotFoundError, ImportError) as error:  # espeak-ng, the Python extras
        raise CommandError(str(error)) from None
    if not args.quiet:
        print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s")
    return 0

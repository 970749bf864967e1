"""`eqx-multimodal export`: synthetic samples as PNG, WAV and JSON-lines files."""

import argparse
from pathlib import Path
from typing import Any

from ._args import add_data_options, config_from_args, folder_path
from ._errors import CommandError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "export",
        help="write synthetic samples as PNG / WAV / JSON-lines files",
        description="Write synthetic aligned samples as files: image/ID.png, audio/ID.wav "
        "(16-bit PCM at --sample-rate), text.jsonl (one line of tokens a sample) and "
        "manifest.json (configuration, latents, alignments). Read them back with "
        "eqx_multimodal.load_paired_folder(DIR). Images need Pillow. The folder is "
        "written under a hidden name and renamed when complete; one left by an "
        "interrupted export is removed by the next.",
    )
    parser.add_argument(
        "--num-samples", metavar="N", type=int, default=100, help="samples to write (default 100)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=folder_path,
        required=True,
        help="a new (or empty) folder to write",
    )
    parser.add_argument("--seed", metavar="N", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--batch-size",
        metavar="N",
        type=int,
        default=256,
        help="samples made at a time (default 256)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_data_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import __version__
    from .._progress import progress
    from .._validation import check_int, seed_key
    from ..data import PairedFolderWriter
    from ..guide import SyntheticDataset

    out: Path = args.out
    if not out.parent.is_dir():
        raise CommandError(f"--out folder {str(out.parent)!r} does not exist")
    config = config_from_args(args)
    if "image" in config.modalities:
        channels = config.image_shape[-1]
        if channels > 4:
            raise CommandError(f"--image-shape: PNG holds 1 to 4 channels, got {channels}")
    num_samples = check_int(args.num_samples, "num_samples")
    dataset = SyntheticDataset(config, num_samples, key=seed_key(args.seed))
    metadata = {
        "config": config.to_dict(),
        "seed": args.seed,
        "generator": f"eqx-multimodal {__version__}",
    }
    try:
        writer = PairedFolderWriter(
            out,
            modalities=config.modalities,
            sample_rate=config.sample_rate if "audio" in config.modalities else None,
            metadata=metadata,
        )
    except FileExistsError:
        raise CommandError(
            f"--out {str(out)!r} exists and is not an empty folder; choose a new folder"
        ) from None
    except ImportError as error:  # Pillow, with images
        raise CommandError(str(error)) from None
    bar = progress(len(dataset), "export", unit="samples", enabled=not args.quiet)
    with bar, writer:
        for batch in dataset.batches(args.batch_size, shuffle=False):
            arrays = {name: batch[name] for name in (*config.modalities, "latent")}
            writer.write(arrays, alignments=batch["alignment_score"])
            bar.update(len(batch["latent"]))
    if not args.quiet:
        files = {
            "image": "image/*.png",
            "audio": f"audio/*.wav ({config.sample_rate} Hz)",
            "text": "text.jsonl",
        }
        listed = ", ".join(files[m] for m in config.modalities)
        elapsed = bar.format_dict["elapsed"]
        print(f"{len(dataset)} samples in {elapsed:.1f} s -> {out}/ ({listed}, manifest.json)")
        print(f"load them with eqx_multimodal.load_paired_folder({str(out)!r})")
    return 0

"""The options that read a paired folder for training, evaluation or embeddings."""

import argparse
import os
import pathlib
from typing import Any

from ._args import integers
from ._errors import CommandError


DEFAULT_SPLIT_SEED = 0


def add_folder_options(parser: argparse.ArgumentParser) -> None:
    """How `train --data` reads a folder (recorded in the run; `evaluate` and `embed`
    read other folders the same way)."""
    group = parser.add_argument_group("your own data (with --data)")
    group.add_argument(
        "--allow-missing",
        action="store_true",
        help="let samples lack some modalities (masked out of the losses; counted)",
    )
    group.add_argument(
        "--resize",
        metavar="H,W,C",
        type=integers,
        default=None,
        help="resize every image to H,W,C (Pillow, bilinear); default: the images must "
        "all have one size",
    )
    group.add_argument(
        "--resample",
        metavar="HZ",
        type=int,
        default=None,
        help="resample audio of another rate to HZ (scipy); default: one rate for all",
    )
    group.add_argument(
        "--audio-seconds",
        metavar="S",
        type=float,
        default=None,
        help="crop or pad every clip to S seconds (a random window in training, the "
        "centre otherwise); default: the clips' length if they share one, else the 95th "
        "percentile of their lengths, at most 30 s (said, and recorded in data.json)",
    )
    group.add_argument(
        "--max-text-length",
        metavar="N",
        type=int,
        default=None,
        help="ids a caption, begin and end marks included (byte tokenizer; longer captions "
        "are cut and counted); default: the longest caption's, at most 512; at most 4096",
    )
    group.add_argument(
        "--split-seed",
        metavar="N",
        type=int,
        default=None,
        help=f"seed of the train/validation/test split by id hash (default {DEFAULT_SPLIT_SEED})",
    )


def open_folder(
    args: argparse.Namespace,
    path: pathlib.Path,
    flag: str = "--data",
    audio_length: int | None = None,
) -> Any:
    """The folder `path`, read as the folder options say. Clips of different lengths
    are cut or padded to `--audio-seconds`, else to `audio_length`, else to the length
    `PairedFolder`'s `audio_length="auto"` chooses."""
    from ..data import ByteTokenizer, PairedFolder

    if not path.exists():
        raise CommandError(f"{flag} {str(path)!r} does not exist")
    if not path.is_dir():
        raise CommandError(f"{flag} {str(path)!r} is not a folder")
    from .._validation import argument_names

    image_shape = args.resize
    names = {
        "image_shape": "--resize",
        "sample_rate": "--resample",
        "audio_seconds": "--audio-seconds",
        "max_length": "--max-text-length",
    }
    try:
        with argument_names(names):
            tokenizer = (
                None if args.max_text_length is None else ByteTokenizer(args.max_text_length)
            )
            return PairedFolder(
                path,
                image_shape=image_shape,
                resize=image_shape is not None,
                sample_rate=args.resample,
                resample=args.resample is not None,
                audio_seconds=args.audio_seconds,
                audio_length=(
                    None
                    if args.audio_seconds is not None
                    else ("auto" if audio_length is None else audio_length)
                ),
                tokenizer=tokenizer,
                allow_missing=args.allow_missing,
            )
    except FileNotFoundError as error:
        raise CommandError(f"{flag}: {error}") from None
    except ValueError as error:
        raise CommandError(f"{flag} {path}: {error}") from None


def describe(folder: Any, name: str) -> str:
    """A line of what a folder holds: samples, each modality's count, missing ones."""
    counts = folder.counts()
    parts = [f"{counts.pop(m)} {m}" for m in folder.modalities]
    extra = [f"{v} {k}" for k, v in counts.items() if v]
    labels = folder.label_names
    if labels:
        extra.append(f"{len(labels)} labels")
    text = f"{name}: {len(folder)} samples ({', '.join(parts)})"
    return text + (f"; {', '.join(extra)}" if extra else "")


def add_run_options(
    parser: argparse.ArgumentParser, *, data_help: str, data_required: bool
) -> None:
    """A trained run to use (`--checkpoint`, `--best`) and a folder to read as it read
    its data (`--data`, `--split`): the options of `evaluate` and `embed`."""
    parser.add_argument(
        "--checkpoint",
        type=pathlib.Path,
        required=True,
        metavar="RUN",
        help="the run's folder (written by train)",
    )
    parser.add_argument(
        "--best",
        action="store_true",
        help="the run's best checkpoint by validation recall (default: the latest)",
    )
    parser.add_argument(
        "--data",
        type=pathlib.Path,
        required=data_required,
        default=None,
        metavar="DIR",
        help=data_help,
    )
    parser.add_argument(
        "--split",
        choices=("all", "train", "validation", "test"),
        default="all",
        help="which samples of --data: all (default), or one split of a folder the run was "
        "trained on (by the run's split seed)",
    )


def load_run_of(args: argparse.Namespace) -> tuple[Any, Any, int]:
    """The config, state and checkpoint step of `--checkpoint` (`--best`), or a one-line
    error."""
    from ..training import CheckpointError, load_run

    try:
        config, state = load_run(args.checkpoint, which="best" if args.best else "latest")
    except CheckpointError as error:
        raise CommandError(str(error)) from None
    return config, state, int(state.step)


def run_folder(run: pathlib.Path, config: Any, path: pathlib.Path, split: str) -> Any:
    """The folder `path` read as the run read its data (shapes, transforms, tokenizer),
    cut to `split`."""
    from .._io import read_json
    from ..data import PairedFolder, split_indices

    if not path.exists():
        raise CommandError(f"--data {str(path)!r} does not exist")
    if not path.is_dir():
        raise CommandError(f"--data {str(path)!r} is not a folder")
    record_path = run / "data.json"
    try:
        record = read_json(record_path) if os.path.lexists(record_path) else None
    except ValueError as error:
        raise CommandError(f"--checkpoint: {error}") from None
    if record is None:
        record = {}
    try:
        if "options" in record:
            folder = PairedFolder.with_options(path, record["options"])
        else:
            spec = config.spec
            folder = PairedFolder(
                path,
                image_shape=spec.image_shape,
                sample_rate=spec.sample_rate,
                audio_length=spec.num_audio_samples,
            )
    except FileNotFoundError as error:
        raise CommandError(f"--data: {error}") from None
    except ValueError as error:
        raise CommandError(f"--data {path}: {error}") from None
    if folder.spec != config.spec:
        raise CommandError(
            f"--data {path} reads as {folder.spec}, but the run's model is for {config.spec}"
        )
    if split == "all":
        return folder
    how = record.get("split")
    if not how:
        if not record_path.exists():
            why = (
                "it trained on synthetic data"
                if config.synthetic
                else f"it has no {record_path.name}, which records the split (was it removed?)"
            )
        elif record.get("validation_path"):
            why = f"it validated on another folder ({record['validation_path']}), unsplit"
        else:
            why = f"its {record_path.name} records no split"
        raise CommandError(f"--split {split}: the run in {run} has no split of a folder: {why}")
    try:
        rows = split_indices(folder.ids, seed=how["seed"], fractions=how["fractions"])[split]
    except (KeyError, TypeError, ValueError) as error:
        raise CommandError(f"--checkpoint: {record_path} has a damaged 'split' ({error})") from None
    if len(rows) == 0:
        raise CommandError(f"--split {split}: no sample of --data {path} is in it")
    return folder.subset(rows)


def held_out_gallery(data: Any, size: int, seed: int) -> dict[str, Any]:
    """The first `size` items of the data config `data` (the guide's synthetic data) on
    the held-out stream of `seed` (`TEST_STREAM`), as NumPy arrays: what `evaluate`,
    `translate` and a generation run's figure read on runs that make their data."""
    from ..training import stream_key, TEST_STREAM

    return data.gallery(size, key=stream_key(seed, TEST_STREAM))


def at_alignment(data: Any, alignment: float | None) -> Any:
    """The data config `data` at `--alignment` (unchanged without one); a config
    without an alignment to change is refused."""
    if alignment is None:
        return data
    if getattr(data, "alignment", None) is None or not hasattr(data, "replace"):
        raise CommandError(f"--alignment: this run's data ({data.kind}) has no alignment")
    return data.replace(alignment=alignment)

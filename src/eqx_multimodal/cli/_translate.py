"""`eqx-multimodal translate`: make one modality from others with a generation run, and
write the result as a paired folder (the sources beside what was made from them)."""

import argparse
import pathlib
import shutil
import sys
from typing import Any

from ._args import names
from ._data_options import add_run_options, held_out_gallery, load_run_of, run_folder
from ._errors import CommandError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "translate",
        help="generate one modality from others with a run trained with --generation",
        description="Generate --to from the modalities of --from (any non-empty subset of "
        "the others, fused) for every sample of a paired folder (--data, one --split of "
        "it) or of a held-out synthetic gallery (--gallery), --samples times each, and "
        "write OUT as a paired folder: the sources, copied, beside each generated item, "
        "with the samples' ids and labels, at the run's image size and sample rate "
        "(readable by PairedFolder and by `train --data`).",
    )
    add_run_options(
        parser,
        data_help="the paired folder whose samples are the sources",
        data_required=False,
    )
    parser.add_argument(
        "--gallery",
        type=int,
        default=None,
        metavar="N",
        help="synthetic runs: translate a held-out gallery of N samples made from --seed",
    )
    parser.add_argument(
        "--from",
        dest="sources",
        type=names,
        required=True,
        metavar="M[,M]",
        help="the source modalities, comma-separated (e.g. audio or audio,text)",
    )
    parser.add_argument("--to", dest="target", required=True, metavar="M", help="the target")
    parser.add_argument(
        "--out", type=pathlib.Path, required=True, metavar="OUT", help="the folder to write"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the samples (and of the synthetic gallery); default 0",
    )
    parser.add_argument(
        "--samples", type=int, default=1, metavar="K", help="outputs per source (default 1)"
    )
    parser.add_argument(
        "--greedy",
        action="store_true",
        help="the most likely output instead of samples (the prior's mean)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        metavar="T",
        help="how wide to sample (> 0): z from N(0, T^2), captions' token logits divided "
        "by T; below 1 trades diversity for coherence (default 1)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT when it holds a paired folder (nothing else is ever removed)",
    )
    parser.add_argument(
        "--figure",
        type=pathlib.Path,
        default=None,
        metavar="F.png",
        help="also draw sources, the K samples and the real target side by side",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    parser.set_defaults(run=run)


def _check_names(args: argparse.Namespace) -> None:
    """The modalities named as they must be, before anything is read."""
    from ..modalities import registered_modalities

    sources = list(args.sources)
    if not sources:
        raise CommandError("--from must name at least one modality, e.g. --from audio")
    known = registered_modalities()
    for name in [*sources, args.target]:
        if name not in known:
            raise CommandError(
                f"unknown modality {name!r}; choose from {list(known)} (a modality of yours: "
                "--import the module that registers it)"
            )
    repeated = sorted({n for n in sources if sources.count(n) > 1})
    if repeated:
        raise CommandError(f"--from names {repeated[0]!r} more than once")
    if args.target in sources:
        raise CommandError(
            f"--to {args.target!r} is also in --from; generate it from the other modalities"
        )


def _manifest_modalities(path: pathlib.Path) -> list[str] | None:
    import json

    manifest = path / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        return list(json.loads(manifest.read_text()).get("modalities") or []) or None
    except (ValueError, AttributeError):
        return None


def _check_out(args: argparse.Namespace) -> None:
    out: pathlib.Path = args.out
    if not out.parent.is_dir():
        raise CommandError(f"--out folder {str(out.parent)!r} does not exist")
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {str(out)!r} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise CommandError(
                f"--out {str(out)!r} exists and is not empty; pass --overwrite to replace it "
                "or choose another --out"
            )
        if not (out / "manifest.json").exists():
            raise CommandError(
                f"--overwrite: {str(out)!r} does not hold a paired folder (no manifest.json); "
                "it is not removed"
            )


def _sources(args: argparse.Namespace, config: Any) -> tuple[dict[str, Any], Any, Any, Any]:
    """The source items, the real targets (or None), the ids and the labels."""
    import numpy as np

    from .._validation import check_int

    wanted = [*args.sources, args.target]
    if args.data is not None:
        if args.gallery is not None:
            raise CommandError("--gallery is for synthetic runs; it cannot go with --data")
        has = _manifest_modalities(args.data) if args.data.is_dir() else None
        lacking = [m for m in args.sources if has is not None and m not in has]
        if lacking:
            raise CommandError(
                f"--data {args.data} has no {lacking[0]!r} (it has {has}); --from needs it"
            )
        folder = run_folder(args.checkpoint, config, args.data, args.split)
        lacking = [m for m in args.sources if m not in folder.modalities]
        if lacking:
            raise CommandError(
                f"--data {args.data} has no {lacking[0]!r} (it has {list(folder.modalities)}); "
                f"--from needs it"
            )
        for name in args.sources:
            missing = int(np.sum(~np.asarray(folder.present(name))))
            if missing:
                raise CommandError(
                    f"--data {args.data}: {missing} samples lack {name!r}, a --from modality"
                )
        items = folder.load()[:]
        labels = folder.labels
        sources = {m: np.asarray(items[m]) for m in args.sources}
        target = np.asarray(items[args.target]) if args.target in folder.modalities else None
        return sources, target, list(folder.ids), labels
    if args.split != "all":
        raise CommandError("--split goes with --data")
    if not config.synthetic:
        raise CommandError(
            f"the run in {args.checkpoint} trained on a dataset; pass --data DIR to translate"
        )
    gallery = check_int(1000 if args.gallery is None else args.gallery, "gallery")
    items = held_out_gallery(config.synthetic_config(), gallery, args.seed)
    width = max(6, len(str(gallery - 1)))
    ids = [f"{i:0{width}d}" for i in range(gallery)]
    return {m: items[m] for m in args.sources}, items.get(wanted[-1]), ids, None


def _as_written(name: str, values: Any, tokenizer: Any) -> Any:
    """Items as the writer takes them: captions as strings when the run's tokenizer can
    decode its tokens (so that the folder reads back as the run read its own)."""
    import numpy as np

    if name == "text" and tokenizer is not None and hasattr(tokenizer, "decode"):
        return np.asarray([tokenizer.decode(row) or " " for row in values])
    return values


def run(args: argparse.Namespace) -> int:
    import jax.random as jr
    import numpy as np

    from .._progress import phase
    from .._validation import check_int, check_real, seed_key
    from ..data import PairedFolderWriter
    from ..training import check_directions, generative_model, translate

    samples = check_int(args.samples, "samples")
    temperature = check_real(args.temperature, "temperature", low=0.0, low_open=True)
    if args.greedy and args.temperature != 1.0:
        raise CommandError("--temperature is for sampling; --greedy takes no temperature")
    _check_names(args)
    _check_out(args)
    if args.figure is not None:
        if args.figure.suffix != ".png":
            raise CommandError(f"--figure must end in .png, got {str(args.figure)!r}")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CommandError(
                "--figure needs matplotlib: pip install 'eqx-multimodal[viz]'"
            ) from None
    config, state, step = load_run_of(args)
    model = generative_model(state, f"the run in {args.checkpoint}")
    sources_names, target_name = check_directions(
        model, list(args.sources), args.target, what="--from"
    )
    args.sources = list(sources_names)
    sources, real, ids, labels = _sources(args, config)
    tokenizer = None
    if args.data is not None:
        tokenizer = run_folder(args.checkpoint, config, args.data, "all").tokenizer
    talk = not args.quiet
    what = f"{'+'.join(sources_names)} -> {target_name}"
    with phase(f"translating {len(ids)} samples ({what}, {samples} each)", enabled=talk):
        made = translate(
            model,
            sources,
            target=target_name,
            key=jr.fold_in(seed_key(args.seed), 1),
            samples=samples,
            greedy=args.greedy,
            temperature=temperature,
        )
    if args.out.exists() and args.overwrite:
        shutil.rmtree(args.out)
    n = len(ids)
    rows = np.repeat(np.arange(n), samples)
    out_ids = ids if samples == 1 else [f"{ids[i]}-s{k}" for i in range(n) for k in range(samples)]
    data = {name: _as_written(name, values[rows], tokenizer) for name, values in sources.items()}
    data[target_name] = _as_written(
        target_name, made.reshape((n * samples,) + made.shape[2:]), tokenizer
    )
    extra = [{"source_id": ids[i], "sample": k} for i in range(n) for k in range(samples)]
    metadata: dict[str, Any] = {
        "translated": {
            "run": str(args.checkpoint),
            "checkpoint_step": step,
            "from": list(sources_names),
            "to": target_name,
            "samples": samples,
            "seed": args.seed,
            "greedy": bool(args.greedy),
            "temperature": temperature,
            "fusion": model.generators.fusion,
        }
    }
    if labels is not None:
        metadata["labels"] = sorted({x for x in labels if x is not None})
    spec = config.spec
    writer = PairedFolderWriter(
        args.out,
        modalities=[*sources_names, target_name],
        sample_rate=spec.sample_rate,
        metadata=metadata,
    )
    with writer:
        label_rows = None if labels is None else [labels[i] or "" for i in rows]
        if label_rows is not None and not all(label_rows):
            label_rows = None  # the writer takes labels for all samples or none
        writer.write(data, labels=label_rows, extra=extra, ids=out_ids)
    if args.figure is not None:
        _figure(args, sources, made, real, target_name, spec.sample_rate, tokenizer)
    if talk:
        print(
            f"{n} samples x {samples} ({what}, checkpoint step {step}) -> {args.out}",
            file=sys.stderr,
        )
    return 0


def _figure(
    args: argparse.Namespace,
    sources: Any,
    made: Any,
    real: Any,
    target: str,
    sample_rate: int | None,
    tokenizer: Any,
) -> None:
    from ..viz import translation_figure

    decode = tokenizer.decode if tokenizer is not None and hasattr(tokenizer, "decode") else None
    translation_figure(
        sources,
        made,
        real,
        target=target,
        sample_rate=sample_rate,
        decode=decode,
        path=args.figure,
    )

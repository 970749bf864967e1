"""`eqx-multimodal evaluate`: retrieval (and, with labels, label-level retrieval and
zero-shot accuracy) of a trained run on held-out data."""

import argparse
import pathlib
from typing import Any

from ._args import given
from ._cache import user_cache_dir
from ._data_options import (
    add_run_options,
    at_alignment,
    held_out_gallery,
    load_run_of,
    run_folder,
)
from ._errors import CommandError


DEFAULT_GALLERY = 1000


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="evaluate a trained run on held-out data",
        description="Cross-modal retrieval (recall@1/5/10, median rank) for every ordered "
        "pair of the run's modalities, and each decoder's reconstruction loss (on the "
        "first 128 items). On synthetic data: a held-out gallery made from --seed. With "
        "--data: every sample of a paired folder (or one --split of it), read as the run "
        "read its data; with labels, also label-level precision@1 and zero-shot accuracy "
        "from the label names.",
    )
    add_run_options(
        parser,
        data_help="a paired folder to evaluate on (default: the synthetic data of the run)",
        data_required=False,
    )
    parser.add_argument(
        "--alignment",
        type=float,
        default=None,
        help="alignment of the synthetic gallery (default: the run's)",
    )
    parser.add_argument(
        "--gallery",
        type=int,
        default=None,
        help=f"synthetic gallery size (default {DEFAULT_GALLERY})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the synthetic gallery (default: the run's, on a held-out stream)",
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
    parser.add_argument(
        "--rerank-top",
        type=int,
        default=None,
        metavar="K",
        help="sets towers: re-rank each image<->audio query's K best candidates by "
        "likelihood verification (default: the run's; 0: off)",
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="synthetic data: also compute what observation-only matchers reach on the same "
        "gallery (the data's ceiling; minutes for 1000 items, then cached in --cache-dir)",
    )
    parser.add_argument(
        "--cache-dir",
        type=pathlib.Path,
        default=None,
        metavar="DIR",
        help="where --ceiling keeps its results (default $XDG_CACHE_HOME/eqx-multimodal, "
        "else ~/.cache/eqx-multimodal)",
    )
    generation = parser.add_argument_group("a generation run (trained with --generation)")
    generation.add_argument(
        "--samples",
        type=int,
        default=None,
        metavar="K",
        help="--data: samples generated from each held-out source (default 4)",
    )
    generation.add_argument(
        "--temperature",
        type=float,
        default=None,
        metavar="T",
        help="the samples' temperature, as translate's (default 1); on --data the greedy "
        "output is judged beside them",
    )
    generation.add_argument(
        "--judge-steps",
        type=int,
        default=None,
        metavar="N",
        help="--data: training steps of each modality's judge, trained on the real items of "
        "the run's train split only (default 500)",
    )
    generation.add_argument(
        "--reference-gallery",
        type=int,
        default=None,
        metavar="N",
        help="synthetic data: reference coherence on the first N items of the gallery "
        "(default: all of it)",
    )
    generation.add_argument(
        "--no-generation", action="store_true", help="skip the generation measures"
    )
    parser.add_argument("--quiet", action="store_true", help="no table")
    parser.set_defaults(run=run)


def reranker_of(config: Any, modalities: Any) -> Any:
    """The re-ranker of the run's tower family for `modalities` (None: none)."""
    from ..nn import get_towers

    make = get_towers(config.towers).reranker
    return None if make is None else make(tuple(modalities))


def rerank_options(config: Any, modalities: Any, top: int | None) -> dict[str, Any]:
    """`evaluate`'s re-ranking arguments for a run of `config` on `modalities`: its
    family's re-ranker, `top` and the run's weight; none without a re-ranker."""
    reranker = reranker_of(config, modalities)
    if reranker is None:
        return {}
    return {"reranker": reranker, "rerank_top": top, "rerank_weight": config.rerank_weight}


def no_rerank(top: int, config: Any, modalities: Any) -> CommandError:
    """`--rerank-top` on a run whose towers re-rank none of its pairs."""
    return CommandError(
        f"--rerank-top {top} does nothing here: the {config.towers} towers re-rank none of "
        f"the pairs of {','.join(modalities)} (the sets towers re-rank image<->audio)"
    )


def _generation(args: argparse.Namespace, config: Any, state: Any, talk: bool) -> dict:
    """The generation measures of a generation run (coherence, fidelity, diversity on a
    folder; reference coherence on the synthetic data)."""
    import sys

    import jax.random as jr

    from .._validation import seed_key
    from ..guide import evaluate_reference_coherence
    from ..training import generative_model
    from ..training._generation_eval import evaluate_generation

    model = generative_model(state)
    # The options given (checked by `_check_generation_options`); the library's defaults
    # for the others.
    options = {
        dest: getattr(args, dest)
        for dest in ("samples", "judge_steps", "temperature")
        if getattr(args, dest) is not None
    }

    def say(line: str) -> None:
        if talk:
            print(line, file=sys.stderr)

    if args.data is not None:
        if args.split == "train":
            raise CommandError(
                "--split train: the judges are trained on the train split; evaluate "
                "generation on held-out samples (--split test or validation)"
            )
        folder = run_folder(args.checkpoint, config, args.data, args.split)
        try:
            train = run_folder(args.checkpoint, config, args.data, "train")
        except CommandError:
            raise CommandError(
                "the generation measures need the run's train split of --data (the judges "
                "train on it); pass --no-generation for retrieval only"
            ) from None
        if folder.labels is None or train.labels is None:
            say("no labels in --data: no coherence with labels")
            return {}
        test_items, train_items = folder.load()[:], train.load()[:]
        return evaluate_generation(
            model,
            test_items,
            folder.labels,
            train_items,
            train.labels,
            config.spec,
            key=jr.fold_in(seed_key(config.seed), 7),
            progress=say,
            **options,
        )
    data = at_alignment(config.synthetic_config(), args.alignment)
    seed = config.seed if args.seed is None else args.seed
    size = reference_size(args)
    items = held_out_gallery(data, size, seed)
    reference = evaluate_reference_coherence(
        model,
        data,
        gallery=size,
        key=jr.fold_in(seed_key(seed), 7),
        items=items,
        progress=say,
        **options,  # the temperature at most: the others are for --data
    )
    return {"reference_coherence": reference, "reference_gallery": size}


#: The options of the generation measures, and the kind of data each is for.
GENERATION_OPTIONS = {
    "--samples": ("samples", "data"),
    "--temperature": ("temperature", None),
    "--judge-steps": ("judge_steps", "data"),
    "--reference-gallery": ("reference_gallery", "synthetic"),
}


def _check_generation_options(args: argparse.Namespace, state: Any) -> None:
    """Refuse a generation option that would do nothing here, or a bad value, before
    anything is evaluated."""
    from .._validation import check_int, check_real

    given = [f for f, (dest, _) in GENERATION_OPTIONS.items() if getattr(args, dest) is not None]
    if given and (state.generators is None or args.no_generation):
        why = "--no-generation" if args.no_generation else "this run has no generators"
        raise CommandError(f"{given[0]} is for the generation measures, and {why}")
    for flag in given:
        kind = GENERATION_OPTIONS[flag][1]
        if kind == "data" and args.data is None:
            raise CommandError(f"{flag} is for a run on --data (the judges train on it)")
        if kind == "synthetic" and args.data is not None:
            raise CommandError(f"{flag} is for the synthetic data, not --data")
    if args.samples is not None:
        check_int(args.samples, "samples")
    if args.judge_steps is not None:
        check_int(args.judge_steps, "judge_steps")
    if args.temperature is not None:
        check_real(args.temperature, "temperature", low=0.0, low_open=True)
    if args.reference_gallery is not None:
        reference_size(args)


def reference_size(args: argparse.Namespace) -> int:
    """The gallery of reference coherence: `--reference-gallery`, else `--gallery`, else
    the default gallery."""
    from .._validation import check_int

    if args.reference_gallery is not None:
        return check_int(args.reference_gallery, "reference_gallery", minimum=2)
    return check_int(
        DEFAULT_GALLERY if args.gallery is None else args.gallery, "gallery", minimum=2
    )


def _cache_dir(args: argparse.Namespace) -> pathlib.Path:
    return user_cache_dir() if args.cache_dir is None else args.cache_dir


def _ceiling(
    args: argparse.Namespace, data: Any, gallery: int, seed: int, chosen: Any, talk: bool
) -> dict[str, Any]:
    from ..guide import achievable_retrieval

    if chosen is not None:
        data = data.replace(modalities=tuple(chosen))
    cache = _cache_dir(args) / "ceilings"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"--cache-dir {str(cache)!r} cannot be made: {error}") from None
    result = achievable_retrieval(data, gallery, seed, cache_dir=cache, progress=talk)
    return result["pairs"]


def run(args: argparse.Namespace) -> int:
    from .._io import write_json
    from .._progress import phase
    from .._validation import check_fits, check_int
    from ..training import evaluate, stream_key, TEST_STREAM
    from ._tables import generation_table, retrieval_table

    if args.json is not None and not args.json.parent.is_dir():
        raise CommandError(f"--json folder {str(args.json.parent)!r} does not exist")
    config, state, step = load_run_of(args)
    _check_generation_options(args, state)
    model = state.model
    top = config.rerank_top if args.rerank_top is None else args.rerank_top
    top = check_int(top, "rerank_top", minimum=0)
    if args.data is not None:
        flags = given(args, ("alignment", "gallery", "seed", "ceiling"))
        if flags:
            raise CommandError(
                f"{', '.join(flags)} {'is' if len(flags) == 1 else 'are'} for the synthetic "
                "gallery: with --data every sample of the folder (or of --split) is evaluated "
                f"(drop {', '.join(flags)})"
            )
    if args.cache_dir is not None and not args.ceiling:
        raise CommandError(
            "--cache-dir is where --ceiling keeps its results: it goes with --ceiling"
        )
    chosen = None
    if args.modalities is not None:
        chosen = [m.strip() for m in args.modalities.split(",") if m.strip()]
        if len(chosen) < 2 or any(m not in model.modalities for m in chosen):
            raise CommandError(
                f"--modalities must name at least two of the run's modalities "
                f"{list(model.modalities)}, got {args.modalities!r}"
            )
    rerank = rerank_options(config, chosen or config.modalities, top)
    if args.rerank_top and not rerank:
        raise no_rerank(args.rerank_top, config, chosen or config.modalities)
    talk = not args.quiet
    if args.data is not None:
        folder = run_folder(args.checkpoint, config, args.data, args.split)
        with phase(f"evaluating on {len(folder)} samples of {args.data}", enabled=talk):
            result = evaluate(
                model,
                folder,
                modalities=chosen,
                tokenizer=folder.tokenizer,
                **rerank,
            )
        result["data"] = {"path": str(args.data), "split": args.split}
    else:
        if args.split != "all":
            raise CommandError("--split goes with --data")
        if not config.synthetic:
            raise CommandError(
                f"the run in {args.checkpoint} trained on a dataset; pass --data DIR to evaluate it"
            )
        data = at_alignment(config.synthetic_config(), args.alignment)
        gallery = check_int(
            DEFAULT_GALLERY if args.gallery is None else args.gallery, "gallery", minimum=2
        )
        if hasattr(data, "sample_bytes"):  # the guide's; a config of yours may not say
            check_fits(gallery * data.sample_bytes, "the gallery", "gallery")
        seed = config.seed if args.seed is None else args.seed
        with phase(f"evaluating on a held-out gallery of {gallery}", enabled=talk):
            result = evaluate(
                model,
                data,
                gallery=gallery,
                key=stream_key(seed, TEST_STREAM),
                modalities=chosen,
                **rerank,
            )
        result["seed"] = seed
        if args.ceiling:
            result["ceiling"] = _ceiling(args, data, gallery, seed, chosen, talk)
    if state.generators is not None and not args.no_generation:
        with phase("measuring generation", enabled=talk):
            result.update(_generation(args, config, state, talk))
    result["checkpoint"] = {
        "run": str(args.checkpoint),
        "step": step,
        "which": "best" if args.best else "latest",
    }
    if args.json is not None:
        write_json(args.json, result)
    if not args.quiet:
        print(retrieval_table(result))
        if state.generators is not None and not args.no_generation:
            print()
            print(generation_table(result))
    return 0

"""`eqx-multimodal train`: the main job. Train the shared-latent model (on fresh synthetic
data, or on a paired folder of your own), evaluate it on held-out data, write the run's
folder."""

import argparse
import contextlib
import pathlib
import sys
import time
from typing import Any

from ._args import add_data_options, config_from_args, folder_path, given
from ._data_options import (
    add_folder_options,
    DEFAULT_SPLIT_SEED,
    describe,
    held_out_gallery,
    open_folder,
)
from ._errors import CommandError
from ._evaluate import no_rerank, rerank_options, reranker_of


DEFAULT_STEPS = 2000
DEFAULT_DATA_STEPS = 300
DEFAULT_BATCH = 256
DEFAULT_DATA_BATCH = 128
DEFAULT_GALLERY = 1000
DEFAULT_RERANK_TOP = 64
#: With --generation: the steps after --steps that train the generators alone.
DEFAULT_GENERATOR_STEPS = 300
#: Options of the synthetic data, and of a folder: each does nothing with the other.
SYNTHETIC_OPTIONS = (
    "alignment",
    "modalities",
    "image_shape",
    "vocab_size",
    "seq_length",
    "sample_rate",
    "duration",
    "curriculum",
    "gallery",
)
FOLDER_OPTIONS = (
    "allow_missing",
    "resize",
    "resample",
    "audio_seconds",
    "max_text_length",
    "split_seed",
)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="train the shared-latent model (the main job)",
        description="Train one encoder per modality into a shared latent space "
        "(a contrastive loss, optionally reconstruction and cycle consistency) on fresh "
        "synthetic data, or with --data on a paired folder of your own (split by id hash "
        "into train/validation/test; the test split is never read), then evaluate "
        "cross-modal retrieval on held-out data. Writes DIR/config.json, metrics.jsonl, "
        "checkpoint.json + checkpoints/, evaluation.json and report.png.",
    )
    parser.add_argument(
        "--data",
        type=pathlib.Path,
        default=None,
        metavar="DIR",
        help="train on this paired folder (see README) instead of the synthetic data",
    )
    parser.add_argument(
        "--val-data",
        type=pathlib.Path,
        default=None,
        metavar="DIR",
        help="validate on this folder; then all of --data is trained on (default: the "
        "validation split of --data)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"training steps (default {DEFAULT_STEPS}; {DEFAULT_DATA_STEPS} with --data)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"samples a step (default {DEFAULT_BATCH}; {DEFAULT_DATA_BATCH} with --data)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed, 0 to 2**64 - 1 (default 0)")
    parser.add_argument(
        "--out",
        type=folder_path,
        default=pathlib.Path("runs/train"),
        help="the run's folder (default runs/train)",
    )
    parser.add_argument(
        "--towers",
        default=None,
        metavar="{sets,guide,generic,...}",
        help="the encoders: set-likelihood towers or the earlier parametric towers, both "
        "fitted to the guide's synthetic signals, generic ones for any data, or a family "
        "of yours (nn.register_towers, in a module named by --import) (default: sets for "
        "synthetic data, generic with --data)",
    )
    parser.add_argument(
        "--rerank-top",
        type=int,
        default=None,
        metavar="K",
        help="sets towers: the evaluation re-ranks each image<->audio query's K best "
        "candidates by likelihood verification (default 64; 0: off)",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=2e-3, help="peak AdamW learning rate (default 2e-3)"
    )
    parser.add_argument(
        "--objective",
        choices=("clip", "siglip"),
        default="clip",
        help="contrastive loss (default clip)",
    )
    parser.add_argument(
        "--cycle",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="weight of the cycle-consistency loss (default 0: off); with --generation, "
        "of the generators' cycle consistency (a generated image encoded again)",
    )
    parser.add_argument(
        "--anchor",
        metavar="MODALITY",
        default=None,
        help="train only the pairs of this modality (e.g. image: image-text, image-audio, "
        "but not text-audio); evaluation still reports every ordered pair",
    )
    generation = parser.add_argument_group("cross-modal generation")
    generation.add_argument(
        "--generation",
        action="store_true",
        help="also train one generator per modality, from the fused latents of any subset "
        "of the others (a conditional VAE; `translate` runs them)",
    )
    generation.add_argument(
        "--fusion",
        choices=("attention", "gated", "early", "late"),
        default=None,
        help="with --generation: how the sources are fused (default attention)",
    )
    generation.add_argument(
        "--kl-weight",
        type=float,
        default=None,
        metavar="WEIGHT",
        help="with --generation: the weight of the VAE's KL term (default 0.005)",
    )
    generation.add_argument(
        "--generator-steps",
        type=int,
        default=None,
        metavar="N",
        help="with --generation: after the --steps that train everything, N more steps "
        f"train the generators alone on the frozen shared-latent model (default "
        f"{DEFAULT_GENERATOR_STEPS}; 0: none)",
    )
    parser.add_argument(
        "--reconstruction",
        type=float,
        default=None,
        metavar="WEIGHT",
        help="weight of each modality's reconstruction loss (default 0: no decoders; they "
        "cost a third of a step and did not change retrieval)",
    )
    parser.add_argument(
        "--curriculum",
        type=float,
        default=None,
        metavar="START",
        help="start the synthetic data at this alignment and move to --alignment over the "
        "first half of the run",
    )
    parser.add_argument(
        "--gallery",
        type=int,
        default=None,
        help=f"held-out retrieval gallery of synthetic data (default {DEFAULT_GALLERY}; with "
        "--data the validation split is evaluated)",
    )
    parser.add_argument(
        "--val-gallery",
        type=int,
        default=500,
        metavar="N",
        help="items validated on, 5 times a run (default 500)",
    )
    run_group = parser.add_argument_group("the run's folder")
    run_group.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its latest checkpoint (--steps may be raised)",
    )
    run_group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out (its files only) instead of refusing",
    )
    run_group.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="checkpoint every N steps (default: 5 times a run), and every 3 minutes",
    )
    run_group.add_argument(
        "--keep",
        type=int,
        default=3,
        metavar="N",
        help="keep the last N checkpoints, and the best by validation recall (default 3)",
    )
    run_group.add_argument("--no-report", action="store_true", help="do not draw report.png")
    run_group.add_argument(
        "--log-every",
        type=int,
        default=50,
        metavar="N",
        help="log the training losses every N steps (default 50)",
    )
    scale = parser.add_argument_group("scaling out")
    scale.add_argument(
        "--devices",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N devices (default: every visible device; the batch is "
        "split over them)",
    )
    scale.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="run as one of several processes (jax.distributed): the address of process 0",
    )
    scale.add_argument("--num-processes", type=int, default=None, help="how many processes")
    scale.add_argument("--process-id", type=int, default=None, help="this process, from 0")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_folder_options(parser)
    add_data_options(parser)
    parser.set_defaults(run=run)


def _loss_weights(args: argparse.Namespace) -> Any:
    from .._validation import check_real
    from ..losses import LossWeights
    from ..modalities import registered_modalities

    # Off by default: the decoders cost a third of a step (more for your data's
    # autoregressive text decoder) and did not change retrieval.
    weight = check_real(args.reconstruction or 0.0, "reconstruction", low=0.0)
    # Every registered modality; those without a decoder (`Modality.decoder`) have none.
    reconstruction = {m: weight for m in registered_modalities()} if weight > 0 else {}
    # With --generation, --cycle is the generators' cycle consistency (`_generation`).
    cycle = 0.0 if args.generation else args.cycle
    return LossWeights(
        objective=args.objective, cycle=cycle, reconstruction=reconstruction, anchor=args.anchor
    )


def _generation(args: argparse.Namespace) -> Any:
    """The `GenerationConfig` of `--generation` (None without it)."""
    from .._validation import check_int
    from ..training import GenerationConfig, MAX_COUNT

    if not args.generation:
        given_ = [
            flag
            for flag, value in (
                ("--fusion", args.fusion),
                ("--kl-weight", args.kl_weight),
                ("--generator-steps", args.generator_steps),
            )
            if value is not None
        ]
        if given_:
            verb = "goes" if len(given_) == 1 else "go"
            raise CommandError(f"{', '.join(given_)} {verb} with --generation")
        return None
    alone = DEFAULT_GENERATOR_STEPS if args.generator_steps is None else args.generator_steps
    fields: dict[str, Any] = {
        "cycle": args.cycle,
        "frozen_steps": check_int(alone, "generator_steps", minimum=0, maximum=MAX_COUNT),
    }
    if args.fusion is not None:
        fields["fusion"] = args.fusion
    if args.kl_weight is not None:
        fields["kl_weight"] = args.kl_weight
    return GenerationConfig(**fields)


def _check_out(args: argparse.Namespace) -> None:
    """What can be said of --out before anything is read (the rest, under its lock, by
    `prepare_run_folder`)."""
    out: pathlib.Path = args.out
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {str(out)!r} exists and is not a folder")
    if args.resume and args.overwrite:
        raise CommandError("--resume and --overwrite contradict each other; pass one")
    for flag, data in (("--data", args.data), ("--val-data", args.val_data)):
        if data is not None and out.resolve() == data.resolve():
            raise CommandError(f"--out {str(out)!r} is the {flag} folder; a run needs its own")


def run(args: argparse.Namespace) -> int:
    from .._validation import check_fits, check_int, check_real, check_seed
    from ..training import CheckpointError, MAX_COUNT, TrainConfig

    if not args.no_report:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CommandError(
                "report.png needs matplotlib: pip install 'eqx-multimodal[viz]' "
                "(or pass --no-report)"
            ) from None
    _join(args)
    _check_out(args)
    on_data = args.data is not None
    if args.split_seed is not None:
        check_seed(args.split_seed, "split_seed")
    _check_context(args)
    steps = check_int(
        (DEFAULT_DATA_STEPS if on_data else DEFAULT_STEPS) if args.steps is None else args.steps,
        "steps",
        maximum=MAX_COUNT,
    )
    batch_size = (
        (DEFAULT_DATA_BATCH if on_data else DEFAULT_BATCH)
        if args.batch_size is None
        else args.batch_size
    )
    check_int(batch_size, "batch_size", minimum=2, maximum=MAX_COUNT)
    check_real(args.cycle, "cycle", low=0.0)
    gallery = check_int(
        DEFAULT_GALLERY if args.gallery is None else args.gallery, "gallery", minimum=2
    )
    generation = _generation(args)
    # The generators' own steps come after the --steps that train everything.
    alone = 0 if generation is None else generation.frozen_steps
    if steps + alone > MAX_COUNT:
        raise CommandError(
            f"--steps {steps} and --generator-steps {alone} make more than {MAX_COUNT} steps"
        )
    every = max(1, steps // 5)
    common: dict[str, Any] = dict(
        steps=steps + alone,
        batch_size=batch_size,
        seed=args.seed,
        towers=args.towers,
        rerank_top=check_int(
            DEFAULT_RERANK_TOP if args.rerank_top is None else args.rerank_top,
            "rerank_top",
            minimum=0,
        ),
        learning_rate=args.learning_rate,
        loss=_loss_weights(args),
        log_every=check_int(args.log_every, "log_every"),
        eval_every=every,
        checkpoint_every=every if args.checkpoint_every is None else args.checkpoint_every,
        keep=args.keep,
        val_gallery=args.val_gallery,
        generation=generation,
    )
    if on_data:
        # The options are checked on a config of the synthetic data's shape; the real
        # one, with the folder's shapes, is made once the folder is read.
        config = TrainConfig(**common)
    else:
        data = config_from_args(args)
        config = TrainConfig(data=data, curriculum_start=args.curriculum, **common)
        check_fits(gallery * data.sample_bytes, "the held-out gallery", "gallery")
    train = validation = held_out = None
    if on_data:
        train, validation, _ = _folders(args)
        batch_size = _capped_batch(args, batch_size, len(train))
        common["batch_size"] = batch_size
        config = TrainConfig(data=train.spec, **common)
        held_out = validation
    mesh = _mesh(args, batch_size)
    _check_rerank(args, config)
    import jax

    from .._io import hold_folder
    from ..training import prepare_run_folder

    # One writer a run folder: the lock is held from here until the report is written
    # (`fit` takes it again). Last: `--overwrite` removes the previous run's files only
    # once everything else is checked.
    primary = jax.process_index() == 0
    with hold_folder(args.out) if primary else contextlib.nullcontext():
        if primary:
            prepare_run_folder(
                args.out,
                resume=args.resume,
                overwrite=args.overwrite,
                data_folders=[p for p in (args.data, args.val_data) if p is not None],
            )
        try:
            return _train(args, config, mesh, train, validation, held_out, gallery)
        except CheckpointError as error:
            raise CommandError(str(error)) from None


def steps_said(config: Any) -> str:
    """How many steps a run takes, with the generators' own last steps said apart."""
    alone = config.frozen_steps
    if alone == 0:
        return f"{config.steps} steps"
    return f"{config.steps - alone} steps, then {alone} of the generators alone,"


def _capped_batch(args: argparse.Namespace, batch_size: int, samples: int) -> int:
    """`batch_size`, at most the `samples` of the training split (a multiple of the
    devices, at least 2); the cap is said on stderr."""
    if batch_size <= samples:
        return batch_size
    import jax

    devices = args.devices or len(jax.devices())
    capped = max(2, samples - samples % devices)
    if not args.quiet:
        what = "the default --batch-size" if args.batch_size is None else "--batch-size"
        print(
            f"{what} {batch_size} is more than the {samples} training samples: batches of {capped}",
            file=sys.stderr,
        )
    return capped


def _which_checkpoint(history: list[dict[str, Any]], step: int) -> str:
    """Which checkpoint the table is of, and the best by validation recall when it is
    another (with the validation loss since, when it rose)."""
    scored = [row for row in history if "val_score" in row]
    text = f"evaluated: the latest checkpoint (step {step}), as `evaluate` uses by default"
    if not scored:
        return text
    best = max(scored, key=lambda row: row["val_score"])  # the first of equals, as fit
    if best["step"] == step:
        return text + "; it is also the best by validation recall"
    text += (
        f"; the best by validation recall is step {best['step']} ({best['val_score']:.3f} "
        f"against {scored[-1]['val_score']:.3f}; evaluate --best)"
    )
    losses = [row for row in scored if "val_loss" in row]
    low = min(losses, key=lambda row: row["val_loss"]) if losses else None
    if low is not None and low["step"] != losses[-1]["step"]:
        text += f"; the validation loss is lowest at step {low['step']} and rose after"
    return text


def _check_context(args: argparse.Namespace) -> None:
    """Refuse options that would do nothing with the others given."""
    if args.data is not None:
        flags = given(args, SYNTHETIC_OPTIONS)
        if flags:
            raise CommandError(
                f"{', '.join(flags)} {'is' if len(flags) == 1 else 'are'} for the synthetic "
                f"data: with --data the folder's samples are used as they are (drop "
                f"{', '.join(flags)})"
            )
        if args.val_data is not None and args.split_seed is not None:
            raise CommandError(
                "--split-seed does nothing with --val-data (nothing is split: all of --data "
                "is trained on); drop one"
            )
        if args.val_data is not None and args.val_data.resolve() == args.data.resolve():
            raise CommandError(
                "--val-data is the --data folder: validating on the samples trained on holds "
                "nothing out; pass another folder, or drop --val-data to split --data"
            )
    else:
        if args.val_data is not None:
            raise CommandError("--val-data goes with --data")
        flags = given(args, FOLDER_OPTIONS)
        if flags:
            raise CommandError(
                f"{', '.join(flags)} {'reads' if len(flags) == 1 else 'read'} a folder: "
                "they go with --data DIR (without it the run trains on synthetic data)"
            )


def _check_rerank(args: argparse.Namespace, config: Any) -> None:
    """`--rerank-top` needs towers whose family re-ranks some pair of the run (the sets
    towers: image <-> audio)."""
    if args.rerank_top is None or args.rerank_top == 0:
        return
    if reranker_of(config, config.modalities) is None:
        raise no_rerank(args.rerank_top, config, config.modalities)


def _folders(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The training, validation and test folders of `--data` (and `--val-data`)."""
    from ..data import split_indices

    folder = open_folder(args, args.data)
    if len(folder.modalities) < 2:
        raise CommandError(
            f"--data {args.data} holds one modality ({folder.modalities[0]}): there is nothing "
            "to align (a run needs two or more modalities of the same samples)"
        )
    if args.val_data is not None:
        validation = open_folder(args, args.val_data, "--val-data", folder.audio_length)
        if validation.spec != folder.spec:
            raise CommandError(
                f"--val-data has other shapes ({validation.spec}) than --data ({folder.spec})"
            )
        train, test = folder, None
    else:
        splits = split_indices(folder.ids, seed=_split_seed(args))
        train, validation, test = (folder.subset(splits[name]) for name in splits)
        empty = [name for name, part in zip(splits, (train, validation, test)) if len(part) == 0]
        if empty:
            raise CommandError(
                f"--data {args.data}: the {empty[0]} split is empty ({len(folder)} samples); a "
                "folder needs about 20 samples or more to split, or pass --val-data"
            )
    if not args.quiet:
        if folder.audio_rule is not None:
            print(f"audio: {folder.audio_rule} (--audio-seconds to choose)", file=sys.stderr)
        print(describe(train, "training on"), file=sys.stderr)
        print(describe(validation, "validating on"), file=sys.stderr)
        if test is not None:
            print(f"held out (never read): {len(test)} test samples", file=sys.stderr)
    return train, validation, test


def _split_info(args: argparse.Namespace) -> dict[str, Any]:
    from ..data import DEFAULT_FRACTIONS

    if args.val_data is not None:
        return {"validation_path": str(args.val_data.resolve()), "split": None}
    return {"split": {"seed": _split_seed(args), "fractions": list(DEFAULT_FRACTIONS)}}


def _split_seed(args: argparse.Namespace) -> int:
    return DEFAULT_SPLIT_SEED if args.split_seed is None else args.split_seed


def _join(args: argparse.Namespace) -> None:
    """Join the other processes, if any. Runs before anything touches JAX (building a
    configuration does): `jax.distributed` must start first."""
    distributed = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in distributed):
        if any(v is None for v in distributed):
            raise CommandError(
                "--coordinator, --num-processes and --process-id go together; got "
                f"--coordinator {args.coordinator}, --num-processes {args.num_processes}, "
                f"--process-id {args.process_id}"
            )
        if args.devices is not None:
            raise CommandError("--devices cannot be combined with several processes")
        from ..distributed import initialize_distributed

        initialize_distributed(args.coordinator, args.num_processes, args.process_id)


def _mesh(args: argparse.Namespace, batch_size: int) -> Any:
    """The mesh of the devices to train on (after `_join`)."""
    import jax

    from .._validation import check_int
    from ..distributed import data_mesh

    devices = jax.devices()
    if args.devices is not None:
        count = check_int(args.devices, "devices")
        if count > len(devices):
            raise CommandError(
                f"--devices {count} is more than the {len(devices)} visible device(s)"
            )
        devices = devices[:count]
    if batch_size % len(devices) != 0:
        raise CommandError(
            f"--batch-size {batch_size} does not split evenly over {len(devices)} "
            f"devices; choose a multiple of {len(devices)}"
        )
    return data_mesh(devices)


def _train(
    args: argparse.Namespace,
    config: Any,
    mesh: Any,
    train: Any,
    validation: Any,
    held_out: Any,
    gallery: int,
) -> int:
    import jax

    from .._progress import phase
    from ..distributed import local_copy
    from ..training import evaluate, fit, stream_key, TEST_STREAM, write_evaluation
    from ._tables import retrieval_table

    primary = jax.process_index() == 0
    quiet = args.quiet or not primary
    if not quiet:
        devices = mesh.devices.size
        processes = jax.process_count()
        what = (
            f"{'+'.join(config.modalities)} at alignment {config.alignment:g}"
            if config.synthetic
            else f"{'+'.join(config.modalities)} of {args.data}"
        )
        fresh = "fresh samples" if config.synthetic else "samples"
        print(
            f"training {what} ({config.towers} towers): {steps_said(config)} of "
            f"{config.batch_size} {fresh} (jax {jax.__version__}, {devices} "
            f"{jax.devices()[0].platform} device(s)"
            + (f" in {processes} processes" if processes > 1 else "")
            + f") -> {args.out}",
            file=sys.stderr,
        )
    start = time.perf_counter()
    try:
        state, history = fit(
            config,
            args.out,
            data=train,
            validation=validation,
            data_info=None if config.synthetic else _split_info(args),
            resume=args.resume,
            overwrite=args.overwrite,
            progress=not quiet,
            mesh=mesh,
        )
    except KeyboardInterrupt:
        if primary:
            print(
                f"interrupted; the latest checkpoint is in {args.out} (continue with --resume)",
                file=sys.stderr,
            )
        raise
    trained = time.perf_counter() - start
    if not primary:  # process 0 evaluates and writes the run's folder
        return 0
    with phase("evaluating on the held-out data", enabled=not quiet):
        if config.synthetic:
            result = evaluate(
                local_copy(state.model),
                config.synthetic_config(),
                gallery=gallery,
                key=stream_key(config.seed, TEST_STREAM),
                **rerank_options(config, config.modalities, config.rerank_top),
            )
            result["seed"] = config.seed
        else:
            result = evaluate(
                local_copy(state.model),
                held_out,
                tokenizer=held_out.tokenizer,
                **rerank_options(config, config.modalities, config.rerank_top),
            )
            result["data"] = {"path": str(args.data), "split": "validation"}
    result["train_seconds"] = trained
    result["checkpoint_step"] = int(state.step)
    write_evaluation(args.out, result)
    if not args.no_report:
        from ..viz import training_report

        training_report(history, result["retrieval"], args.out / "report.png", evaluation=result)
    drawn = False
    if not args.no_report and state.generators is not None:
        sources = config.synthetic or (held_out is not None and len(held_out) > 0)
        if sources:
            drawn = _generated_figure(args, config, local_copy(state), held_out)
    if not args.quiet:
        print(retrieval_table(result))
        print(_which_checkpoint(history, int(state.step)))
        written = "config.json, metrics.jsonl, checkpoint.json, checkpoints/, evaluation.json"
        written += "" if config.synthetic else ", data.json"
        written += "" if args.no_report else ", report.png"
        written += ", generated.png" if drawn else ""
        print(f"trained in {trained:.0f} s; wrote {args.out}/{{{written}}}")
    return 0


def _generated_figure(args: argparse.Namespace, config: Any, state: Any, held_out: Any) -> bool:
    """`generated.png` of a generation run: each modality made from all the others, for
    two held-out sources (the validation split, or the synthetic held-out stream), two
    samples each beside the real one. Whether it was drawn."""
    import jax.random as jr
    import numpy as np

    from ..training import generative_model, translate
    from ..training._folder import GENERATED
    from ..viz import generation_figure

    model = generative_model(state)
    if config.synthetic:
        items = held_out_gallery(config.synthetic_config(), 2, config.seed)
        decode = None
    else:
        rows = held_out.subset(np.arange(min(2, len(held_out))))
        items = {m: np.asarray(v) for m, v in rows.load()[:].items()}
        decode = getattr(held_out.tokenizer, "decode", None)
    directions = []
    for i, target in enumerate(model.generators.generators):
        sources = {m: items[m] for m in model.generators.generator(target).sources if m in items}
        if target not in items or not sources:
            continue
        key = jr.fold_in(jr.key(config.seed), i)
        made = translate(model, sources, target=target, key=key, samples=2)
        directions.append((sources, made, items[target], target))
    if not directions:
        return False
    generation_figure(
        directions, sample_rate=config.spec.sample_rate, decode=decode, path=args.out / GENERATED
    )
    return True

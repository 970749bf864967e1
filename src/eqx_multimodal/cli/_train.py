"""`eqx-multimodal train`: the main job. Train the shared-latent model on fresh
synthetic data, evaluate it on a held-out gallery, write the run's folder."""

import argparse
import json
import pathlib
import sys
import time
from typing import Any

from ._args import add_data_options, config_from_args, non_negative_int, positive_int, unit_float
from ._main import CommandError


DEFAULT_STEPS = 2500


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="train the shared-latent model (the main job)",
        description="Train one encoder per modality into a shared latent space on fresh "
        "synthetic data (contrastive + reconstruction losses, optionally cycle consistency), "
        "then evaluate "
        "cross-modal retrieval on a held-out gallery. Writes DIR/checkpoint.eqx, "
        "config.json, metrics.jsonl, evaluation.json and report.png.",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=DEFAULT_STEPS,
        help=f"training steps (default {DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=256,
        help="samples a step, all fresh (default 256)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("runs/train"),
        help="the run's folder (default runs/train)",
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
        help="weight of the cycle-consistency loss (default 0: off)",
    )
    parser.add_argument(
        "--curriculum",
        type=unit_float,
        default=None,
        metavar="START",
        help="start the training data at this alignment and move to "
        "--alignment over the first half of the run",
    )
    parser.add_argument(
        "--gallery",
        type=positive_int,
        default=1000,
        help="held-out retrieval gallery size (default 1000)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    parser.add_argument("--no-report", action="store_true", help="do not draw report.png")
    parser.add_argument(
        "--log-every",
        type=positive_int,
        default=50,
        metavar="N",
        help="log the training losses every N steps (default 50)",
    )
    scale = parser.add_argument_group("scaling out")
    scale.add_argument(
        "--devices",
        type=positive_int,
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
    scale.add_argument(
        "--num-processes", type=positive_int, default=None, help="how many processes take part"
    )
    scale.add_argument(
        "--process-id", type=non_negative_int, default=None, help="this process, from 0"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_data_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..losses import LossWeights
    from ..training import CheckpointError, TrainConfig
    from ..training._config import data_dict

    if not args.no_report:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CommandError(
                "report.png needs matplotlib: pip install 'eqx-multimodal[viz]' "
                "(or pass --no-report)"
            ) from None
    if args.batch_size < 2:
        raise CommandError("--batch-size must be at least 2 for a contrastive loss")
    if not args.cycle >= 0:
        raise CommandError(f"--cycle must be >= 0, got {args.cycle}")
    if not args.learning_rate > 0:
        raise CommandError(f"--learning-rate must be positive, got {args.learning_rate}")
    if args.out.exists() and not args.out.is_dir():
        raise CommandError(f"--out {str(args.out)!r} exists and is not a folder")
    mesh = _mesh(args)
    data = data_dict(config_from_args(args))
    config = TrainConfig(
        data=data,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        learning_rate=args.learning_rate,
        loss=LossWeights(objective=args.objective, cycle=args.cycle),
        curriculum_start=args.curriculum,
        log_every=args.log_every,
        eval_every=min(500, args.steps),
        checkpoint_every=min(500, args.steps),
    )
    try:
        return _train(args, config, mesh)
    except CheckpointError as error:
        raise CommandError(str(error)) from None


def _mesh(args: argparse.Namespace) -> Any:
    """Join the other processes (if any), then the mesh of the devices to train on.

    Runs before anything else touches JAX: `jax.distributed` must start first.
    """
    distributed = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in distributed):
        if any(v is None for v in distributed):
            raise CommandError(
                "--coordinator, --num-processes and --process-id go together; got "
                f"--coordinator {args.coordinator}, --num-processes {args.num_processes}, "
                f"--process-id {args.process_id}"
            )
        if args.process_id >= args.num_processes:
            raise CommandError(
                f"--process-id must be below --num-processes {args.num_processes}, "
                f"got {args.process_id}"
            )
        if args.devices is not None:
            raise CommandError("--devices cannot be combined with several processes")
        from ..training import initialize_distributed

        try:
            initialize_distributed(args.coordinator, args.num_processes, args.process_id)
        except ValueError as error:
            raise CommandError(str(error)) from None
    import jax

    from ..data import data_mesh

    devices = jax.devices()
    if args.devices is not None:
        if args.devices > len(devices):
            raise CommandError(
                f"--devices {args.devices} is more than the {len(devices)} visible device(s)"
            )
        devices = devices[: args.devices]
    if args.batch_size % len(devices) != 0:
        raise CommandError(
            f"--batch-size {args.batch_size} does not split evenly over {len(devices)} "
            f"devices; choose a multiple of {len(devices)}"
        )
    return data_mesh(devices)


def _train(args: argparse.Namespace, config: Any, mesh: Any) -> int:
    import jax

    from .._progress import format_table
    from ..data import local_copy
    from ..training import evaluate, fit, stream_key, TEST_STREAM, write_evaluation

    primary = jax.process_index() == 0
    quiet = args.quiet or not primary
    if not quiet:
        devices = mesh.devices.size
        processes = jax.process_count()
        print(
            f"training {'+'.join(config.modalities)} at alignment {config.alignment:g}: "
            f"{config.steps} steps of {config.batch_size} fresh samples "
            f"(jax {jax.__version__}, {devices} {jax.devices()[0].platform} device(s)"
            + (f" in {processes} processes" if processes > 1 else "")
            + f") -> {args.out}",
            file=sys.stderr,
        )
    start = time.perf_counter()
    state, history = fit(config, args.out, resume=args.resume, progress=not quiet, mesh=mesh)
    trained = time.perf_counter() - start
    if not primary:  # process 0 evaluates and writes the run's folder
        return 0
    result = evaluate(
        local_copy(state.model),
        config.synthetic_config(),
        gallery=args.gallery,
        key=stream_key(config.seed, TEST_STREAM),
    )
    result["train_seconds"] = trained
    write_evaluation(args.out, result)
    if not args.no_report:
        from ..viz import training_report

        training_report(history, result["retrieval"], args.out / "report.png")
    if not args.quiet:
        print(_retrieval_table(result, format_table))
        print(
            f"trained in {trained:.0f} s; wrote {args.out}/" + "{checkpoint.eqx, "
            "config.json, metrics.jsonl, evaluation.json"
            + ("}" if args.no_report else ", report.png}")
        )
    return 0


def _retrieval_table(result: dict[str, Any], format_table: Any) -> str:
    gallery = result["gallery"]
    rows = [
        [
            pair,
            f"{m['recall@1']:.3f}",
            f"{m['recall@5']:.3f}",
            f"{m['recall@10']:.3f}",
            f"{m['median_rank']:g}",
        ]
        for pair, m in result["retrieval"].items()
    ]
    table = format_table(["retrieval", "R@1", "R@5", "R@10", "median rank"], rows)
    recon = ", ".join(f"{k} {v:.4g}" for k, v in result.get("reconstruction", {}).items())
    return (
        f"held-out gallery of {gallery} at alignment {result['alignment']:g} "
        f"(chance R@1 {1 / gallery:.3f})\n{table}"
        + (f"\nreconstruction loss: {recon}" if recon else "")
    )


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)

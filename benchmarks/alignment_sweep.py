"""Retrieval against alignment: train and evaluate at each alignment strength.

For each alignment `a` in `--alignments`, trains the model `eqx-multimodal train` trains
(the set towers, no decoders) on data at alignment `a` for `--steps` steps and evaluates
it as `evaluate` does (image <-> audio re-ranked) on the held-out gallery of `--seed`
at the same alignment. With `--ceiling-cache DIR` it also prints the observation-only
ceiling of each pair on that gallery (`metrics.achievable_retrieval`, cached in DIR).
Prints a markdown table (README) and writes `OUT/sweep.json`.

    python benchmarks/alignment_sweep.py [--alignments 0,0.3,0.6,0.8,1] [--steps 2000]
        [--seed 3] [--ceiling-cache DIR]
"""

import argparse
import json
import pathlib
import time

import jax

from eqx_multimodal.guide import achievable_retrieval, SetReranker
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.training import evaluate, fit, stream_key, TEST_STREAM, TrainConfig


PAIRS = ("image->audio", "audio->image", "text->image", "text->audio")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alignments", default="0,0.3,0.6,0.8,1")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3, help="the gallery's seed")
    parser.add_argument("--ceiling-cache", type=pathlib.Path, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gallery", type=int, default=1000)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/sweep"))
    args = parser.parse_args()
    results = {}
    for alignment in (float(a) for a in args.alignments.split(",")):
        base = TrainConfig()
        config = base.replace(
            data=base.synthetic_config().replace(alignment=alignment),
            steps=args.steps,
            batch_size=args.batch_size,
            loss=LossWeights(reconstruction={}),
            eval_every=args.steps,
            checkpoint_every=args.steps,
        )
        start = time.perf_counter()
        state, _ = fit(config, args.out / f"alignment-{alignment:g}", progress=False)
        seconds = time.perf_counter() - start
        result = evaluate(
            state.model,
            config.synthetic_config(),
            gallery=args.gallery,
            key=stream_key(args.seed, TEST_STREAM),
            reranker=SetReranker(),
            rerank_top=config.rerank_top,
        )
        result["train_seconds"] = seconds
        if args.ceiling_cache is not None:
            ceiling = achievable_retrieval(
                config.synthetic_config(), args.gallery, args.seed, cache_dir=args.ceiling_cache
            )
            result["ceiling"] = ceiling["pairs"]
        results[alignment] = result
        print(f"alignment {alignment:g}: trained in {seconds:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(
        json.dumps({str(k): v for k, v in results.items()}, indent=2)
    )
    device = jax.devices()[0]
    print(
        f"\n{args.steps} steps of {args.batch_size}, gallery {args.gallery} (seed {args.seed}), "
        f"{device.platform} ({device.device_kind}), jax {jax.__version__}\n"
    )
    print("| alignment | " + " | ".join(f"{p} R@1 / R@10" for p in PAIRS) + " |")
    print("|---" * (len(PAIRS) + 1) + "|")
    for alignment, result in results.items():
        cells = []
        for p in PAIRS:
            got = result["retrieval"][p]
            cell = f"{got['recall@1']:.3f} / {got['recall@10']:.3f}"
            if "ceiling" in result:
                top = result["ceiling"][p]
                cell += f" (ceiling {top['recall@1']:.3f} / {top['recall@10']:.3f})"
            cells.append(cell)
        print(f"| {alignment:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

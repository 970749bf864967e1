"""Retrieval against alignment: train and evaluate at each alignment strength.

For each alignment `a` in `--alignments`, trains the default shared-latent model on data
at alignment `a` for `--steps` steps and evaluates it on a held-out gallery of 1000 at
the same alignment. Prints a markdown table (README) and writes `OUT/sweep.json`.

    python benchmarks/alignment_sweep.py [--alignments 0,0.3,0.6,0.8,1] [--steps 2500]
"""

import argparse
import json
import pathlib
import time

import jax

from eqx_multimodal.training import evaluate, fit, stream_key, TEST_STREAM, TrainConfig
from eqx_multimodal.training._config import data_dict


PAIRS = ("image->audio", "audio->image", "text->image", "text->audio")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alignments", default="0,0.3,0.6,0.8,1")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gallery", type=int, default=1000)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/sweep"))
    args = parser.parse_args()
    results = {}
    for alignment in (float(a) for a in args.alignments.split(",")):
        base = TrainConfig()
        config = base.replace(
            data={**data_dict(base.synthetic_config()), "alignment": alignment},
            steps=args.steps,
            batch_size=args.batch_size,
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
            key=stream_key(config.seed, TEST_STREAM),
        )
        result["train_seconds"] = seconds
        results[alignment] = result
        print(f"alignment {alignment:g}: trained in {seconds:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(
        json.dumps({str(k): v for k, v in results.items()}, indent=2)
    )
    device = jax.devices()[0]
    print(
        f"\n{args.steps} steps of {args.batch_size}, gallery {args.gallery}, "
        f"{device.platform} ({device.device_kind}), jax {jax.__version__}\n"
    )
    print("| alignment | " + " | ".join(f"{p} R@1 / R@10" for p in PAIRS) + " |")
    print("|---" * (len(PAIRS) + 1) + "|")
    for alignment, result in results.items():
        cells = [
            f"{result['retrieval'][p]['recall@1']:.3f} / {result['retrieval'][p]['recall@10']:.3f}"
            for p in PAIRS
        ]
        print(f"| {alignment:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""What can retrieval reach on the synthetic data? The observation-only ceilings.

For each alignment and gallery seed, `achievable_retrieval` (in
`eqx_multimodal.metrics`) scores every ordered pair of image, text and audio
with matchers that see only the rendered observations (the audio's signed tone set, the
image's exact likelihood under an assignment of tones to gratings, the text's set
likelihood given the tones, the text's likelihood under the image's posterior) and
prints recall@1/5/10 and the median rank, with the time each gallery took. At alignment
0.8 it also prints the figures of the audit of issue 17 (the README's `--seed 3`
gallery) beside them.

With `--checkpoint RUN` (a run of `eqx-multimodal train`) it also evaluates the run's
model on the same galleries, as `eqx-multimodal evaluate --seed` does, and prints its
recall beside the ceiling, pair by pair, with the mean of the galleries.

    python benchmarks/ceilings.py [--alignments 0.8] [--seeds 3,4] [--gallery 1000]
        [--cache-dir DIR] [--checkpoint RUN] [--no-progress]
"""

import argparse
import os
import pathlib
import time

from eqx_multimodal.guide import achievable_retrieval, CEILING_PAIRS, SetReranker, SyntheticConfig
from eqx_multimodal.training import evaluate, load_run, stream_key, TEST_STREAM


#: Issue 17's audit, alignment 0.8, 1000-way, the `--seed 3` gallery: (R@1, R@10).
AUDIT = {
    "image->audio": (0.919, 0.960),
    "audio->image": (0.888, 0.948),
    "text->audio": (None, 0.060),
    "text->image": (None, 0.083),
    "image->text": (None, 0.093),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alignments", default="0.8")
    parser.add_argument("--seeds", default="3,4")
    parser.add_argument("--gallery", type=int, default=1000)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--checkpoint", type=pathlib.Path, default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    alignments = [float(a) for a in args.alignments.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    # The run's own data (its shapes), when a run is compared with the ceiling.
    base = SyntheticConfig()
    if args.checkpoint is not None:
        base = load_run(args.checkpoint)[0].synthetic_config()
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    rows = []
    for alignment in alignments:
        config = base.replace(alignment=alignment)
        for seed in seeds:
            start = time.perf_counter()
            result = achievable_retrieval(
                config,
                args.gallery,
                seed,
                cache_dir=args.cache_dir,
                progress=not args.no_progress,
            )
            wall = time.perf_counter() - start
            print(
                f"alignment {alignment:g}, seed {seed}: {result['seconds']:.0f} s computed "
                f"({wall:.0f} s this call), load average {os.getloadavg()[0]:.1f}; "
                + ", ".join(f"{k} {v:g} s" for k, v in result.get("stage_seconds", {}).items()),
                flush=True,
            )
            rows.append((alignment, seed, result))
    if args.checkpoint is not None:
        _side_by_side(args, rows)
    print()
    print(f"{args.gallery}-way retrieval by observation-only matchers (the ceilings)")
    print("| alignment | pair | seed | R@1 | R@5 | R@10 | median rank | audit R@1 / R@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for pair in CEILING_PAIRS:
        for alignment, seed, result in rows:
            m = result["pairs"][pair]
            audit = ""
            if alignment == 0.8 and seed == 3 and pair in AUDIT and args.gallery == 1000:
                r1, r10 = AUDIT[pair]
                audit = f"{'-' if r1 is None else f'{r1:.3f}'} / {r10:.3f}"
            print(
                f"| {alignment:g} | {pair} | {seed} | {m['recall@1']:.3f} | {m['recall@5']:.3f} "
                f"| {m['recall@10']:.3f} | {m['median_rank']:g} | {audit} |"
            )


def _side_by_side(args: argparse.Namespace, rows: list) -> None:
    """The run's recall beside the ceiling on every gallery of `rows`."""
    config, state = load_run(args.checkpoint)
    print()
    print(f"{args.checkpoint} (step {int(state.step)}) against the ceiling, R@1 / R@10")
    by_alignment: dict[float, list] = {}
    for alignment, seed, ceiling in rows:
        data = config.synthetic_config().replace(alignment=alignment)
        model = evaluate(
            state.model,
            data,
            gallery=args.gallery,
            key=stream_key(seed, TEST_STREAM),
            reranker=SetReranker(),
            rerank_top=config.rerank_top,
            rerank_weight=config.rerank_weight,
        )
        by_alignment.setdefault(alignment, []).append((seed, model["retrieval"], ceiling["pairs"]))
    print("| alignment | pair | " + "model / ceiling per gallery | mean model | mean ceiling |")
    print("|---|---|---|---|---|")
    for alignment, galleries in by_alignment.items():
        for pair in CEILING_PAIRS:
            if pair not in galleries[0][1]:
                continue
            cells, means = [], {"model": [0.0, 0.0], "ceiling": [0.0, 0.0]}
            for seed, model, ceiling in galleries:
                m, c = model[pair], ceiling[pair]
                cells.append(
                    f"seed {seed}: {m['recall@1']:.3f}/{m['recall@10']:.3f} vs "
                    f"{c['recall@1']:.3f}/{c['recall@10']:.3f}"
                )
                for name, got in (("model", m), ("ceiling", c)):
                    means[name][0] += got["recall@1"] / len(galleries)
                    means[name][1] += got["recall@10"] / len(galleries)
            print(
                f"| {alignment:g} | {pair} | {'; '.join(cells)} | "
                f"{means['model'][0]:.3f} / {means['model'][1]:.3f} | "
                f"{means['ceiling'][0]:.3f} / {means['ceiling'][1]:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

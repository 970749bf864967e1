"""Speed of `translate`: N sources batched and compiled, against an eager per-item loop.

The baseline is what a user writes without `training.translate`: for each source,
`GenerativeModel.translate` called eagerly (no `jax.jit`), one item at a time, measured
in the same run on the same machine and model, on `--baseline` of the N sources (it is
slow) and scaled to N. Batched: `training.translate` (chunks of 256 under
`eqx.filter_jit`), timed after a warm-up that compiles it. With `--run RUN` the
generation run's model (e.g. the spoken digits), else a fresh model of the synthetic
data's shapes (the timing does not depend on the weights).

    python benchmarks/translate.py [--run RUN] [--sources 1000] [--baseline 20]
        [--from audio] [--to image]
"""

import argparse
import platform
import time

import jax
import jax.random as jr
import numpy as np

from eqx_multimodal.cli._tables import format_table
from eqx_multimodal.guide import SyntheticDataset
from eqx_multimodal.training import (
    GenerationConfig,
    generative_model,
    init_state,
    load_run,
    TrainConfig,
    translate,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=20)
    parser.add_argument("--from", dest="source", default="audio")
    parser.add_argument("--to", dest="target", default="image")
    args = parser.parse_args()
    if args.run is not None:
        config, state = load_run(args.run)
    else:
        config = TrainConfig(generation=GenerationConfig())
        state = init_state(config)
    model = generative_model(state)
    if config.synthetic:
        data = SyntheticDataset(config.synthetic_config(), 256, key=jr.key(1)).materialise(256)
        pool = np.asarray(data[:][args.source])
    else:
        import json
        import pathlib

        from eqx_multimodal.data import PairedFolder

        record = json.loads((pathlib.Path(args.run) / "data.json").read_text())
        folder = PairedFolder.with_options(record["path"], record["options"])
        pool = np.asarray(folder.subset(np.arange(min(256, len(folder)))).load()[:][args.source])
    sources = pool[np.arange(args.sources) % len(pool)]
    key = jr.key(0)

    translate(model, {args.source: sources[:256]}, target=args.target, key=key)  # compile
    start = time.perf_counter()
    made = translate(model, {args.source: sources}, target=args.target, key=key)
    batched = time.perf_counter() - start

    count = min(args.baseline, args.sources)
    model.translate({args.source: sources[0]}, args.target, key=key)  # warm eager caches
    start = time.perf_counter()
    for i in range(count):
        out = model.translate({args.source: sources[i]}, args.target, key=jr.fold_in(key, i))
    jax.block_until_ready(out)
    eager = (time.perf_counter() - start) / count * args.sources

    rows = [
        ["eager loop (per item, no jit)", eager, args.sources / eager, 1.0],
        ["translate (batched, compiled)", batched, args.sources / batched, eager / batched],
    ]
    print(
        f"translate {args.source}->{args.target} of {args.sources} sources, output "
        f"{made.shape[2:]} ({jax.devices()[0].platform}, {platform.processor() or 'cpu'}; "
        f"eager measured on {count} and scaled)"
    )
    print(format_table(["method", "seconds", "sources/s", "speed-up"], rows))


if __name__ == "__main__":
    main()

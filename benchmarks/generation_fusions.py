"""Does fusion earn its place? Each fusion on the same budget: coherence from one source
vs two.

Takes a generation run on a labelled folder (e.g. `train --data digits --generation`),
keeps its shared-latent model (frozen: the generators read its latents with a stop
gradient, as in the run), and for each fusion trains fresh generators of `--target` on
the run's train split for `--steps` steps of `--batch-size` (the same budget, seed and
draws for every fusion), then scores `--samples` samples per held-out source with one
judge trained on the real train items only (`metrics.train_judge`).

    python benchmarks/generation_fusions.py --run RUN [--target image] [--steps 300]
"""

import argparse
import json
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from eqx_multimodal.cli._tables import format_table
from eqx_multimodal.data import PairedFolder, split_indices
from eqx_multimodal.losses import generation_loss
from eqx_multimodal.metrics import coherence_accuracy, judge_accuracy, train_judge
from eqx_multimodal.nn import FUSIONS, GenerativeModel, make_generators
from eqx_multimodal.training import embed, load_run, translate
from eqx_multimodal.training._generation_eval import direction_name, directions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--target", default="image")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--fusions", default=",".join(FUSIONS))
    args = parser.parse_args()
    config, state = load_run(args.run)
    record = json.loads((pathlib.Path(args.run) / "data.json").read_text())
    folder = PairedFolder.with_options(record["path"], record["options"])
    how = record["split"]
    splits = split_indices(folder.ids, seed=how["seed"], fractions=how["fractions"])
    train, test = (folder.subset(splits[name]) for name in ("train", "test"))
    train_items, test_items = train.load()[:], test.load()[:]
    names = sorted(set(train.labels) | set(test.labels))
    y_train = np.asarray([names.index(x) for x in train.labels])
    y_test = np.asarray([names.index(x) for x in test.labels])
    latents = {k: jnp.asarray(v) for k, v in embed(state.model, train_items).items()}
    items = {m: jnp.asarray(train_items[m]) for m in config.modalities}
    judge = train_judge(
        args.target, train_items[args.target], y_train, config.spec, key=jr.key(1),
        num_classes=len(names),
    )  # fmt: skip
    on_real = judge_accuracy(judge, test_items[args.target], y_test)
    chosen = [d for d in directions(config.modalities) if d[1] == args.target]
    rows = []
    generation = config.generation
    for fusion in args.fusions.split(","):
        generators = make_generators(
            config.spec, latent_dim=config.latent_dim, targets=[args.target], fusion=fusion,
            width=generation.width, z_dim=generation.z_dim, key=jr.key(2),
        )  # fmt: skip
        optimizer = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
        opt_state = optimizer.init(eqx.filter(generators, eqx.is_inexact_array))

        @eqx.filter_jit
        def step(generators, opt_state, index):
            key = jr.fold_in(jr.key(3), index)
            rows_key, loss_key = jr.split(key)
            chosen_rows = jr.randint(rows_key, (args.batch_size,), 0, len(y_train))
            batch = {m: v[chosen_rows] for m, v in items.items()}
            lat = {m: v[chosen_rows] for m, v in latents.items()}

            def loss(g):
                return generation_loss(g, lat, batch, key=loss_key, kl_weight=generation.kl_weight)[
                    0
                ]

            grads = eqx.filter_grad(loss)(generators)
            params = eqx.filter(generators, eqx.is_inexact_array)
            with jax.numpy_dtype_promotion("standard"):
                updates, opt_state = optimizer.update(grads, opt_state, params)
            return eqx.apply_updates(generators, updates), opt_state

        for i in range(args.steps):
            generators, opt_state = step(
                generators, opt_state, jnp.asarray(i)
            )  # traced: one compilation
        model = GenerativeModel(state.model, generators)
        row = [fusion]
        for sources, target in chosen:
            made = translate(
                model, {s: test_items[s] for s in sources}, target=target, key=jr.key(4),
                samples=args.samples,
            )  # fmt: skip
            row.append(coherence_accuracy(judge, made, y_test))
        rows.append(row)
        print(fusion, row[1:], flush=True)
    header = ["fusion", *(direction_name(*d) for d in chosen)]
    print(f"coherence of {args.target} ({args.steps} steps of {args.batch_size} each; judge on "
          f"real held-out {args.target}: {on_real:.3f})")  # fmt: skip
    print(format_table(header, rows))


if __name__ == "__main__":
    main()

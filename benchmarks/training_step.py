"""One training step of the guide's TextToImageGenerator: this library beside the
guide's own Flax NNX version, in the same run; and the default `train` step.

Vocabulary 1000, embedding 256, images 32x32x3, batch 32, Adam, MSE. The guide's module
is written for one example, so the NNX step maps it over the batch with `nnx.vmap`;
this library's shim accepts the batch directly. Medians of `--repeats` timed steps
after a warm-up; `block_until_ready` on each step's loss.

    pip install ".[bench]" && python benchmarks/training_step.py
"""

import argparse
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax

from eqx_multimodal.cli._tables import format_table
from eqx_multimodal.nnx import Rngs, TextToImageGenerator


VOCAB, EMBED, SHAPE, BATCH = 1000, 256, (32, 32, 3), 32


def batch(key):
    tokens = jr.randint(key, (BATCH, 50), 0, VOCAB)
    images = jr.uniform(jr.fold_in(key, 1), (BATCH, *SHAPE))
    return tokens, images


def time_steps(step, state, repeats):
    key = jr.key(0)
    tokens, images = batch(key)
    state, loss = step(state, tokens, images)  # compile
    jax.block_until_ready(loss)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, loss = step(state, tokens, images)
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(repeats):
    model = TextToImageGenerator(VOCAB, EMBED, SHAPE, rngs=Rngs(0))
    optimizer = optax.adam(1e-3)
    state = (model, optimizer.init(eqx.filter(model, eqx.is_inexact_array)))

    @eqx.filter_jit(donate="all")
    def step(state, tokens, images):
        model, opt_state = state

        def loss_fn(m):
            return jnp.mean((m(tokens) - images) ** 2)

        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (eqx.apply_updates(model, updates), opt_state), loss

    return time_steps(step, state, repeats)


def guide_nnx(repeats):
    from flax import nnx

    class GuideTextToImageGenerator(nnx.Module):  # the guide's code, verbatim
        def __init__(self, vocab_size, embed_dim, image_shape, *, rngs):
            super().__init__()
            self.image_shape = image_shape
            self.text_embed = nnx.Embed(vocab_size, embed_dim, rngs=rngs)
            self.encoder = nnx.Linear(embed_dim, 512, rngs=rngs)
            self.decoder = nnx.Sequential(
                nnx.Linear(512, 1024, rngs=rngs),
                nnx.relu,
                nnx.Linear(1024, int(jnp.prod(jnp.array(image_shape))), rngs=rngs),
                nnx.sigmoid,
            )

        def __call__(self, text_tokens):
            text_emb = self.text_embed(text_tokens)
            text_feat = jnp.mean(text_emb, axis=0)
            encoded = self.encoder(text_feat)
            image_flat = self.decoder(encoded)
            return image_flat.reshape(self.image_shape)

    model = GuideTextToImageGenerator(VOCAB, EMBED, SHAPE, rngs=nnx.Rngs(0))
    try:
        optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    except TypeError:  # flax < 0.11
        optimizer = nnx.Optimizer(model, optax.adam(1e-3))

    @nnx.jit
    def step(model, optimizer, tokens, images):
        def loss_fn(m):
            out = nnx.vmap(lambda m, t: m(t), in_axes=(None, 0))(m, tokens)
            return jnp.mean((out - images) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        try:
            optimizer.update(model, grads)
        except TypeError:  # flax < 0.11
            optimizer.update(grads)
        return loss

    def wrapped(state, tokens, images):
        return state, step(model, optimizer, tokens, images)

    return time_steps(wrapped, None, repeats)


def default_train_step(repeats):
    from eqx_multimodal.training import init_state, make_step, TrainConfig

    config = TrainConfig()
    state, step = init_state(config), make_step(config)
    start = time.perf_counter()
    state, metrics = step(state)
    jax.block_until_ready(metrics)
    compile_seconds = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = step(state)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    return compile_seconds, statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--train-repeats", type=int, default=20)
    args = parser.parse_args()
    device = jax.devices()[0]
    print(
        f"{device.platform} ({device.device_kind}), jax {jax.__version__}; "
        f"median of {args.repeats} steps"
    )
    rows = []
    mine = ours(args.repeats)
    try:
        theirs = guide_nnx(args.repeats)
    except ImportError:
        theirs = None
        print("flax is not installed (pip install '.[bench]'): no NNX baseline")
    if theirs is not None:
        rows.append(["guide TextToImageGenerator, flax nnx.jit", f"{1e3 * theirs:.2f}", "1.00"])
    rows.append(
        [
            "eqx_multimodal.nnx TextToImageGenerator",
            f"{1e3 * mine:.2f}",
            f"{mine / theirs:.2f}" if theirs else "-",
        ]
    )
    print(format_table(["training step (batch 32)", "median ms", "x nnx"], rows))
    compile_seconds, step_seconds = default_train_step(args.train_repeats)
    print(
        f"default `eqx-multimodal train` step (batch 256, data made in the step): "
        f"{1 / step_seconds:.2f} steps/s, first call (compile) {compile_seconds:.1f} s"
    )


if __name__ == "__main__":
    main()

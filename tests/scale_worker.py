"""The other side of `test_scale_devices.py`: runs in a fresh process, because the number
of devices is fixed when JAX starts (`XLA_FLAGS=--xla_force_host_platform_device_count=8`
must be set before `import jax`) and `jax.distributed` can start only once.

    python tests/scale_worker.py devices OUT
    python tests/scale_worker.py process PROCESS_ID PORT OUT

Writes JSON results into the folder OUT; the test makes the assertions that compare with
a run on one device. Runtime type checks, strict dtype promotion and warnings-as-errors
are on, as in the test suite.
"""

import contextlib
import io
import json
import pathlib
import sys
import warnings


#: The data options of the CLI runs that are compared: every modality, with the default
#: towers, whose front ends would turn any difference in a sample into another fitted
#: phase or tone; small, so that they compile fast.
DATA = [
    "--image-shape",
    "16,16,1",
    "--vocab-size",
    "64",
    "--seq-length",
    "20",
    "--sample-rate",
    "4000",
    "--duration",
    "0.25",
]
TRAIN = [
    "train",
    "--steps",
    "20",
    "--seed",
    "3",
    "--batch-size",
    "16",
    "--gallery",
    "40",
    "--val-gallery",
    "16",
    "--log-every",
    "5",
]
TRAIN += ["--no-report", "--quiet", *DATA]


def _strict() -> None:
    """The test suite's settings; eqx_multimodal is imported here first, under the hook."""
    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", message=".*jaxtyping.*", category=UserWarning)
    import jax
    from jaxtyping import install_import_hook

    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
    with install_import_hook("eqx_multimodal", "beartype.beartype"):
        import eqx_multimodal  # noqa: F401


def small_data():
    import eqx_multimodal as em

    return em.SyntheticConfig(
        image_shape=(8, 8, 3), vocab_size=20, seq_length=6, sample_rate=4000, duration=0.1
    )


def tiny_config(steps: int):
    """The model and data of the runs of two processes (tiny, so that they compile fast)."""
    from eqx_multimodal.losses import LossWeights
    from eqx_multimodal.training import TrainConfig

    return TrainConfig(
        data=small_data().replace(modalities=["image", "text"]),
        towers="guide",
        steps=steps,
        batch_size=8,
        latent_dim=8,
        d_model=16,
        seed=3,
        log_every=1,
        eval_every=steps,
        val_gallery=16,
        loss=LossWeights(recon_batch=4),
    )


#: Steps of `fit` and of the grain-fed training in the runs of two processes.
FIT_STEPS, GRAIN_STEPS = 6, 3


def _cli(argv: list[str]) -> tuple[int, str]:
    from eqx_multimodal.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    return int(code or 0), err.getvalue()


def _relative(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))


def devices(out: pathlib.Path) -> None:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    from jax.sharding import PartitionSpec

    import eqx_multimodal as em
    from eqx_multimodal.distributed import check_batch_size, data_mesh, replicate, shard_map
    from eqx_multimodal.losses import clip_loss, LossWeights, shared_latent_loss
    from eqx_multimodal.nn import SharedLatentModel

    # Image and text keep it quick to compile; audio takes the same path.
    small = small_data().replace(modalities=["image", "text"])
    assert jax.device_count() == 8, jax.devices()
    mesh8, mesh1 = data_mesh(), data_mesh(jax.devices()[:1])
    result: dict = {}

    # Batch sizes that do not split evenly: a clear error naming both numbers.
    try:
        check_batch_size(12, mesh8)
    except ValueError as error:
        result["batch_error"] = str(error)
    result["cli_batch_error"] = _cli([*TRAIN, "--batch-size", "12", "--out", str(out / "bad")])

    # Each device holds (and made) exactly its own rows of the batch.
    key, indices = jr.key(1), jnp.arange(16)
    batch = eqx.filter_jit(
        lambda key: em.sharded_synthetic_batch(0, 16, key=key, config=small, mesh=mesh8)
    )(key)
    plain = em.synthetic_batch(indices, key=key, config=small)
    result["batch_spec"] = [list(batch[name].sharding.spec) for name in batch]  # type: ignore
    shards_equal = True
    for name, value in batch.items():
        for shard in value.addressable_shards:
            rows = np.asarray(plain[name])[shard.index]
            # Bit for bit: an item is the same whichever device makes it.
            same = np.array_equal(shard.data, rows)
            shards_equal &= shard.data.shape[0] == 2 and bool(same)
    result["shards_equal"] = bool(shards_equal)

    # The loss of the global batch and its gradients, on 8 devices and on 1.
    model = SharedLatentModel(small, latent_dim=16, d_model=32, key=jr.key(0))
    weights = LossWeights(recon_batch=4)

    def loss_and_grads(mesh):
        @eqx.filter_jit
        def run(model, key):
            batch = em.sharded_synthetic_batch(0, 16, key=key, config=small, mesh=mesh)
            loss_fn = lambda m: shared_latent_loss(m, batch, weights)
            return eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)

        return run(replicate(model, mesh), key)

    (loss8, terms8), grads8 = loss_and_grads(mesh8)
    (loss1, terms1), grads1 = loss_and_grads(mesh1)
    result["loss"] = [float(loss1), float(loss8)]
    result["terms_relative"] = {k: _relative(terms1[k], terms8[k]) for k in terms1}
    leaves1 = jax.tree.leaves(eqx.filter(grads1, eqx.is_inexact_array))
    leaves8 = jax.tree.leaves(eqx.filter(grads8, eqx.is_inexact_array))
    flat1 = np.concatenate([np.ravel(g) for g in leaves1])
    flat8 = np.concatenate([np.ravel(g) for g in leaves8])
    result["grads_relative"] = _relative(flat1, flat8)
    result["grads_leaf_relative"] = max(_relative(a, b) for a, b in zip(leaves1, leaves8))
    result["grads_norm"] = float(np.linalg.norm(flat1))

    # The trap: negatives only from a device's own rows give another loss (and so other
    # gradients); the comparison above would catch it.
    latents = eqx.filter_jit(model.embed_batch)(plain)
    local = shard_map(
        lambda a, b, t: clip_loss(a, b, t)[None],
        mesh8,
        (PartitionSpec("data"), PartitionSpec("data"), PartitionSpec()),
        PartitionSpec("data"),
    )(latents["image"], latents["text"], model.log_temperature[0])
    global_loss = clip_loss(latents["image"], latents["text"], model.log_temperature[0])
    result["clip_global"] = float(global_loss)
    result["clip_local_negatives"] = float(jnp.mean(local))

    # The main job on all 8 devices.
    result["cli"] = _cli([*TRAIN, "--out", str(out / "run")])
    (out / "result.json").write_text(json.dumps(result))


def grain_loader(shard_options, *, worker_count: int = 0):
    """A grain loader of this shard's rows of each batch of `tiny_config(GRAIN_STEPS)`."""
    import grain
    import jax.random as jr

    import eqx_multimodal as em

    config = tiny_config(GRAIN_STEPS)
    source = em.GrainSource(em.SyntheticDataset(config.synthetic_config(), 64, key=jr.key(4)))
    local = config.batch_size // shard_options.shard_count
    return grain.DataLoader(
        data_source=source,
        sampler=grain.samplers.IndexSampler(
            len(source), shard_options=shard_options, shuffle=True, num_epochs=1, seed=0
        ),
        operations=[grain.transforms.Batch(local, drop_remainder=True)],
        worker_count=worker_count,
    )


def process(process_id: int, port: int, out: pathlib.Path) -> None:
    """One of two processes: `fit` on the devices of both, then global batches of grain
    records, of which this process reads only its own slice."""
    import grain
    import jax
    import numpy as np

    from eqx_multimodal.distributed import (
        data_mesh,
        initialize_distributed,
        process_rows,
        shard_batch,
    )
    from eqx_multimodal.training import fit

    initialize_distributed(f"localhost:{port}", 2, process_id)
    mesh = data_mesh()
    _, history = fit(tiny_config(FIT_STEPS), out / "run", progress=False, mesh=mesh)
    result: dict = {
        "process_count": jax.process_count(),
        "devices": jax.device_count(),
        "fit_losses": [row["loss"] for row in history if "loss" in row],
        "rows": process_rows(tiny_config(GRAIN_STEPS).batch_size, mesh),
    }
    batches = iter(grain_loader(grain.sharding.ShardByJaxProcess(drop_remainder=True)))
    arrays = {}
    for step in range(GRAIN_STEPS):
        local = next(batches)
        batch = shard_batch(local, mesh)
        result[f"grain_shape{step}"] = {name: list(batch[name].shape) for name in batch}
        for name, value in batch.items():
            # This process's shards of the global batch are the rows it read.
            rows = np.concatenate([np.asarray(s.data) for s in value.addressable_shards])
            assert np.array_equal(rows, local[name]), name
            arrays[f"{step}/{name}"] = rows
    np.savez(out / f"process{process_id}.npz", **arrays)
    (out / f"process{process_id}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    _strict()
    mode, *args = sys.argv[1:]
    if mode == "devices":
        devices(pathlib.Path(args[0]))
    elif mode == "process":
        process(int(args[0]), int(args[1]), pathlib.Path(args[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")

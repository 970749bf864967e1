"""The training loop of the shared-latent model: a jitted step on fresh data."""

import json
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jax.sharding import Mesh
from jaxtyping import Array, Int, PRNGKeyArray

from .._progress import Progress
from ..data._config import SyntheticConfig
from ..data._sharding import (
    batch_sharding,
    check_batch_size,
    data_mesh,
    local_copy,
    replicate,
    replicated_sharding,
    sharded_synthetic_batch,
)
from ..data._synthetic import synthetic_batch
from ..losses._reconstruction import reconstruction_loss
from ..losses._shared_latent import shared_latent_loss
from ..metrics._retrieval import retrieval_metrics
from ..nn._shared_latent import SharedLatentModel
from ._checkpoint import (
    CheckpointError,
    CONFIG,
    load_checkpoint,
    read_info,
    save_checkpoint,
    write_atomic,
)
from ._config import TrainConfig


METRICS = "metrics.jsonl"
EVALUATION = "evaluation.json"

# The key streams of a run: training batches, validation, held-out evaluation.
TRAIN_STREAM, VALIDATION_STREAM, TEST_STREAM = 0, 1, 2


class TrainState(eqx.Module):
    model: SharedLatentModel
    opt_state: Any
    step: Int[Array, ""]


def stream_key(seed: int, stream: int) -> PRNGKeyArray:
    return jr.fold_in(jr.key(seed), stream)


def make_model(config: TrainConfig) -> SharedLatentModel:
    return SharedLatentModel(
        config.synthetic_config(),
        latent_dim=config.latent_dim,
        d_model=config.d_model,
        temperature=config.temperature,
        decoders=any(config.loss.reconstruction_weight(m) > 0 for m in config.modalities)
        or config.loss.cycle > 0,
        key=jr.fold_in(jr.key(config.seed), 3),
    )


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0,
        config.learning_rate,
        min(config.warmup_steps, max(config.steps - 1, 0)),
        config.steps,
        end_value=0.01 * config.learning_rate,
    )
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(schedule, weight_decay=config.weight_decay),
    )


def init_state(config: TrainConfig) -> TrainState:
    model = make_model(config)
    optimizer = make_optimizer(config)
    return TrainState(
        model, optimizer.init(eqx.filter(model, eqx.is_inexact_array)), jnp.zeros((), jnp.int32)
    )


def training_alignment(config: TrainConfig, step: Int[Array, ""]) -> Array:
    """The alignment of the training data at `step` (the curriculum, if any)."""
    target = jnp.asarray(config.alignment, jnp.float32)
    if config.curriculum_start is None:
        return target
    span = max(1.0, config.curriculum_fraction * config.steps)
    progress = jnp.minimum(step.astype(jnp.float32) / span, 1.0)
    start = jnp.asarray(config.curriculum_start, jnp.float32)
    return start + (target - start) * progress


def _make_update(config: TrainConfig, mesh: Mesh):
    """One optimiser step on a batch; the new state is replicated on `mesh`."""
    optimizer = make_optimizer(config)
    replicated = replicated_sharding(mesh)

    def update(state: TrainState, batch: dict[str, Array]) -> tuple[TrainState, dict[str, Array]]:
        # On a mesh the batch is split over the devices and the model replicated; this
        # is the loss of the global batch (every positive against every negative on
        # every device), so its gradients are those of one device, and the compiler
        # inserts the collectives.
        def loss_fn(model):
            return shared_latent_loss(model, batch, config.loss)

        (loss, terms), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(state.model)
        params = eqx.filter(state.model, eqx.is_inexact_array)
        # optax mixes weak Python floats with int32 step counts, which strict dtype
        # promotion (used by this package's tests) rejects; the result is the same.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, state.opt_state, params)
        model = eqx.apply_updates(state.model, updates)
        temperature = jnp.exp(state.model.log_temperature)
        metrics = {"loss": loss, **terms}
        for i, (a, b) in enumerate(state.model.pairs):
            metrics[f"temperature/{a}-{b}"] = temperature[i]
        arrays, static = eqx.partition(TrainState(model, opt_state, state.step + 1), eqx.is_array)
        # Pinned, so that every step sees the shardings it was compiled for.
        arrays = jax.lax.with_sharding_constraint(arrays, replicated)
        return eqx.combine(arrays, static), metrics

    return update


def _on_mesh(step: Callable, mesh: Mesh) -> Callable:
    replicated = replicated_sharding(mesh)

    def on_mesh(state: TrainState, *args: Any) -> Any:
        # A state that is not on the mesh yet (fresh from `init_state`, or loaded from a
        # checkpoint) is put there, once: the steps after it return replicated states.
        if getattr(state.step, "sharding", replicated) != replicated:
            state = replicate(state, mesh)
        return step(state, *args)

    return on_mesh


def make_step(
    config: TrainConfig, mesh: Mesh | None = None
) -> Callable[[TrainState], tuple[TrainState, dict[str, Array]]]:
    """The jitted training step: make the batch of this step, update, report the loss.

    The batch is items `0, ..., batch_size - 1` of the step's own key (the training
    stream's key folded with the step), made inside the compiled step: the data never
    repeats and never leaves the devices.

    **Arguments:**

    - `config`: a `TrainConfig`.
    - `mesh`: a mesh with a `"data"` axis; default every visible device (`data_mesh()`).
        The batch is split along the axis and each device makes only its own rows; the
        state should be replicated on the mesh (`replicate`). `batch_size` must be a
        multiple of the axis size.

    **Returns:**

    `step(state) -> (state, metrics)`.
    """
    mesh = data_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh)
    update = _make_update(config, mesh)
    data = config.synthetic_config()
    key = stream_key(config.seed, TRAIN_STREAM)

    @eqx.filter_jit
    def step(state: TrainState) -> tuple[TrainState, dict[str, Array]]:
        alignment = training_alignment(config, state.step)
        batch_config = eqx.tree_at(lambda c: c.alignment, data, alignment)
        batch = sharded_synthetic_batch(
            jr.fold_in(key, state.step), 0, config.batch_size, config=batch_config, mesh=mesh
        )
        state, metrics = update(state, batch)
        return state, {"loss": metrics["loss"], "alignment": alignment, **metrics}

    return _on_mesh(step, mesh)


def make_batch_step(
    config: TrainConfig, mesh: Mesh | None = None
) -> Callable[[TrainState, dict[str, Array]], tuple[TrainState, dict[str, Array]]]:
    """The jitted training step on a batch from elsewhere: a grain loader, an
    `ArrayDataset`, the slices of several processes (`shard_batch`).

    **Arguments:**

    - `config`: a `TrainConfig` (its data fields fix the model's shapes).
    - `mesh`: as for `make_step`.

    **Returns:**

    `step(state, batch) -> (state, metrics)`, where `batch` holds `config.batch_size`
    rows of each modality, split along the mesh's `"data"` axis.
    """
    mesh = data_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh)
    update = _make_update(config, mesh)

    @eqx.filter_jit
    def step(state: TrainState, batch: dict[str, Array]) -> tuple[TrainState, dict[str, Array]]:
        for name in config.modalities:
            if name not in batch or batch[name].shape[0] != config.batch_size:
                shape = batch[name].shape if name in batch else "missing"
                raise ValueError(
                    f"`batch[{name!r}]` must have `batch_size` {config.batch_size} rows, "
                    f"got {shape}"
                )
        batch = {name: batch[name] for name in config.modalities}
        return update(state, jax.lax.with_sharding_constraint(batch, batch_sharding(mesh)))

    return _on_mesh(step, mesh)


def make_gallery(config: SyntheticConfig, size: int, key: PRNGKeyArray, chunk: int = 250):
    """`size` items of the stream `key`, made `chunk` at a time."""
    parts = [
        synthetic_batch(key, jnp.arange(start, min(start + chunk, size)), config=config)
        for start in range(0, size, chunk)
    ]
    return {name: jnp.concatenate([p[name] for p in parts]) for name in parts[0]}


@eqx.filter_jit
def _embed(model: SharedLatentModel, batch: dict[str, Array]) -> dict[str, Array]:
    return model.embed_batch(batch)


def embed_gallery(model: SharedLatentModel, gallery: dict[str, Array], chunk: int = 250):
    size = len(gallery["latent"])
    parts = [
        _embed(
            model,
            {k: v[start : start + chunk] for k, v in gallery.items() if k in model.modalities},
        )
        for start in range(0, size, chunk)
    ]
    return {name: jnp.concatenate([p[name] for p in parts]) for name in parts[0]}


@eqx.filter_jit
def _reconstruction(model: SharedLatentModel, batch: dict[str, Array]) -> dict[str, Array]:
    latents = model.embed_batch(batch)
    out = {}
    for name, decoder in model.decoders.items():
        if name not in batch:
            continue
        outputs = jax.vmap(decoder.teacher_output)(latents[name], batch[name])
        out[name] = jnp.mean(
            jax.vmap(lambda o, t, name=name: reconstruction_loss(name, o, t))(outputs, batch[name])
        )
    return out


def evaluate(
    model: SharedLatentModel,
    data: SyntheticConfig,
    *,
    gallery: int,
    key: PRNGKeyArray,
    modalities: Sequence[str] | None = None,
    reconstruction_items: int = 128,
) -> dict[str, Any]:
    """Retrieval for every ordered pair of the model's modalities on a held-out gallery,
    and the reconstruction loss of each decoder.

    **Returns:**

    `{"retrieval": {"a->b": {"recall@1", "recall@5", "recall@10", "median_rank"}},
    "reconstruction": {modality: loss}, "gallery": gallery, "alignment": a}`.
    """
    chosen = model.modalities if modalities is None else tuple(modalities)
    unknown = [m for m in chosen if m not in model.modalities]
    if unknown:
        raise ValueError(
            f"the model was not trained on {unknown} (it has {list(model.modalities)})"
        )
    items = make_gallery(data, gallery, key)
    items = {k: v for k, v in items.items() if k in chosen or k not in model.modalities}
    latents = embed_gallery(model, items)
    retrieval = {
        f"{a}->{b}": retrieval_metrics(latents[a], latents[b])
        for a in chosen
        for b in chosen
        if a != b
    }
    head = {k: v[:reconstruction_items] for k, v in items.items() if k in chosen}
    reconstruction = {k: float(v) for k, v in _reconstruction(model, head).items()}
    return {
        "retrieval": retrieval,
        "reconstruction": reconstruction,
        "gallery": gallery,
        "alignment": float(data.alignment),
    }


def _validation(model: SharedLatentModel, config: TrainConfig, items: dict[str, Array]):
    loss, terms = eqx.filter_jit(shared_latent_loss)(model, items, config.loss)
    latents = embed_gallery(model, items)
    row: dict[str, float] = {"val_loss": float(loss)}
    row.update({f"val/{k}": float(v) for k, v in terms.items()})
    for a in latents:
        for b in latents:
            if a != b:
                r = retrieval_metrics(latents[a], latents[b])
                row[f"val_recall@1 {a}->{b}"] = r["recall@1"]
                row[f"val_recall@10 {a}->{b}"] = r["recall@10"]
    return row


def _read_history(path: pathlib.Path, upto: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row["step"] <= upto:
                rows.append(row)
    return rows


def fit(
    config: TrainConfig,
    out: pathlib.Path | str,
    *,
    resume: bool = False,
    until: int | None = None,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    mesh: Mesh | None = None,
) -> tuple[TrainState, list[dict[str, Any]]]:
    """Train a `SharedLatentModel` as `config` says, writing into the folder `out`:
    `config.json`, `metrics.jsonl` (one JSON object a logged step), and a checkpoint
    every `checkpoint_every` steps and at the end.

    **Arguments:**

    - `config`: a `TrainConfig`.
    - `out`: the run's folder (created).
    - `resume`: keyword only. Continue from the checkpoint in `out`; the run then
        reproduces the uninterrupted one exactly (the data of step `k` is a function of
        the seed and `k`). The saved config must match `config`.
    - `until`: keyword only. Stop after this step (as if interrupted); default
        `config.steps`.
    - `progress`: keyword only. Show a progress bar (on a terminal).
    - `on_log`: keyword only. Called with each logged row.
    - `mesh`: keyword only. The devices to train on, a mesh with a `"data"` axis;
        default every visible device (`data_mesh()`), see `make_step`. With several
        processes (`initialize_distributed`) every process calls `fit` alike; process 0
        writes `out` and validates, the others only train (a resumed run reads `out`).

    **Returns:**

    The final `TrainState` (replicated on the mesh) and the history (the logged rows).
    """
    mesh = data_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh)
    primary = jax.process_index() == 0
    out = pathlib.Path(out)
    if primary:
        out.mkdir(parents=True, exist_ok=True)
    state = init_state(config)
    if resume:
        saved = (
            TrainConfig.from_json((out / CONFIG).read_text()) if (out / CONFIG).exists() else None
        )
        if saved is None:
            raise CheckpointError(f"{str(out)!r} has no {CONFIG} to resume from")
        if saved != config:
            diff = [
                k for k in config.__dataclass_fields__ if getattr(saved, k) != getattr(config, k)
            ]
            raise ValueError(f"cannot resume: the saved config differs in {diff}")
        read_info(out)
        state, _ = load_checkpoint(out, state)
    state = replicate(state, mesh)

    start = int(state.step)
    history = _read_history(out / METRICS, start) if resume else []
    stop = config.steps if until is None else min(until, config.steps)
    step = make_step(config, mesh)
    data = config.synthetic_config()
    validation: dict[str, Array] = {}
    if primary:
        write_atomic(out / CONFIG, config.to_json().encode())
        write_atomic(out / METRICS, "".join(json.dumps(r) + "\n" for r in history).encode())
        validation = make_gallery(
            data, config.val_gallery, stream_key(config.seed, VALIDATION_STREAM)
        )
    log = (out / METRICS).open("a") if primary else None
    try:
        with Progress(stop, "train", unit="steps", enabled=progress and primary) as bar:
            bar.update(start)
            tick, tick_step = time.perf_counter(), start
            for k in range(start, stop):
                state, metrics = step(state)
                done = k + 1
                row: dict[str, Any] | None = None
                # Logging depends only on the step, so a resumed run logs what an
                # uninterrupted one would.
                if done % config.log_every == 0 or done == config.steps:
                    now = time.perf_counter()
                    row = {"step": done, **{m: float(v) for m, v in metrics.items()}}
                    row["steps_per_sec"] = (done - tick_step) / max(now - tick, 1e-9)
                    tick, tick_step = now, done
                if primary and (done % config.eval_every == 0 or done == config.steps):
                    row = {
                        "step": done,
                        **(row or {}),
                        **_validation(local_copy(state.model), config, validation),
                    }
                if row is not None:
                    history.append(row)
                    if log is not None:
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                    if on_log is not None:
                        on_log(row)
                    bar.postfix["loss"] = row.get("loss", row.get("val_loss"))
                if primary and (done % config.checkpoint_every == 0 or done == stop):
                    save_checkpoint(out, local_copy(state), done)
                bar.update(1)
    finally:
        if log is not None:
            log.close()
    return state, history


def load_run(directory: pathlib.Path | str) -> tuple[TrainConfig, TrainState]:
    """The config and the last checkpoint of a training run's folder."""
    directory = pathlib.Path(directory)
    read_info(directory)
    config_path = directory / CONFIG
    if not config_path.exists():
        raise CheckpointError(f"{str(directory)!r} has no {CONFIG}")
    try:
        config = TrainConfig.from_json(config_path.read_text())
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{str(config_path)!r} is corrupt: {error}") from None
    state, _ = load_checkpoint(directory, init_state(config))
    return config, state


def write_evaluation(directory: pathlib.Path, result: dict[str, Any]) -> None:
    write_atomic(directory / EVALUATION, json.dumps(result, indent=2).encode())

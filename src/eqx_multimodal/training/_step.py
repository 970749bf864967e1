"""The training step of the shared-latent model: one jitted optimiser update, on data
made inside the step (synthetic) or on a batch given to it (a dataset)."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jax.sharding import Mesh
from jaxtyping import Array, Int, PRNGKeyArray

from .._validation import seed_key
from ..distributed import (
    batch_sharding,
    check_batch_size,
    data_mesh,
    replicate,
    replicated_sharding,
)
from ..losses import generation_loss, shared_latent_loss
from ..nn import Generators, make_generators, SharedLatentModel
from ._config import TrainConfig


# The key streams of a run: training batches, validation, held-out evaluation, the
# model's initialisation, and the generators' (their initialisation and their draws of
# subsets and posterior samples, step by step).
TRAIN_STREAM = 0
"""The key stream of a run's training batches (see `stream_key`)."""
VALIDATION_STREAM = 1
"""The key stream of a run's validation gallery (see `stream_key`)."""
TEST_STREAM = 2
"""The key stream of held-out evaluation, `evaluate --seed N` (see `stream_key`)."""
INIT_STREAM = 3
"""The key stream of a run's model initialisation (see `stream_key`)."""
GENERATION_STREAM = 4
"""The key stream of the generators: their initialisation and, step by step, their draws
of source subsets and posterior samples (see `stream_key`)."""


class TrainState(eqx.Module):
    """What a training run carries from step to step, and what a checkpoint holds:
    the shared-latent model, the generators of a generation run (None otherwise), the
    optimiser's state and the step."""

    model: SharedLatentModel
    opt_state: Any
    step: Int[Array, ""]
    generators: Generators | None = None


def stream_key(seed: int, stream: int) -> PRNGKeyArray:
    """The key of one of a run's streams (`TRAIN_STREAM`, `VALIDATION_STREAM`,
    `TEST_STREAM`, `INIT_STREAM`): streams of one seed never share data.

    ```python
    >>> import jax
    >>> key = stream_key(0, TEST_STREAM)
    >>> key.shape, str(jax.random.key_impl(key))
    ((), 'threefry2x32')

    ```
    """
    return jr.fold_in(seed_key(seed), stream)


def make_model(config: TrainConfig) -> SharedLatentModel:
    """The run's freshly initialised model (from the seed's `INIT_STREAM`)."""
    return SharedLatentModel(
        config.data,
        towers=config.towers,
        latent_dim=config.latent_dim,
        d_model=config.d_model,
        temperature=config.temperature,
        decoders=any(config.loss.reconstruction_weight(m) > 0 for m in config.modalities)
        or config.loss.cycle > 0,
        key=stream_key(config.seed, INIT_STREAM),
    )


def make_generators_of(config: TrainConfig) -> Generators | None:
    """The run's freshly initialised generators (None when `config.generation` is)."""
    generation = config.generation
    if generation is None:
        return None
    return make_generators(
        config.data,
        latent_dim=config.latent_dim,
        modalities=config.modalities,
        fusion=generation.fusion,
        width=generation.width,
        z_dim=generation.z_dim,
        towers=config.towers or "generic",
        key=jr.fold_in(stream_key(config.seed, GENERATION_STREAM), 0),
    )


def trainable(state: TrainState) -> Any:
    """What the optimiser updates: the model, with the generators when there are any
    (a run without them keeps the optimiser state it always had)."""
    return state.model if state.generators is None else (state.model, state.generators)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """AdamW with linear warm-up and cosine decay to 1% of the peak, after clipping the
    gradients' global norm. A run whose generators train alone in its last steps
    (`GenerationConfig.frozen_steps`) starts a second warm-up and decay there."""

    def warmup_cosine(steps: int) -> optax.Schedule:
        return optax.warmup_cosine_decay_schedule(
            0.0,
            config.learning_rate,
            min(config.warmup_steps, max(steps - 1, 0)),
            steps,
            end_value=0.01 * config.learning_rate,
        )

    alone = config.frozen_steps
    if alone == 0:
        schedule = warmup_cosine(config.steps)
    else:
        joint = config.steps - alone
        schedule = optax.join_schedules([warmup_cosine(joint), warmup_cosine(alone)], [joint])
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adamw(schedule, weight_decay=config.weight_decay),
    )


def init_state(config: TrainConfig) -> TrainState:
    """The state of step 0: a fresh model and optimiser."""
    model = make_model(config)
    generators = make_generators_of(config)
    optimizer = make_optimizer(config)
    params = model if generators is None else (model, generators)
    return TrainState(
        model,
        optimizer.init(eqx.filter(params, eqx.is_inexact_array)),
        jnp.zeros((), jnp.int32),
        generators,
    )


def _make_update(config: TrainConfig, mesh: Mesh):
    """One optimiser step on a batch; the new state is replicated on `mesh`."""
    optimizer = make_optimizer(config)
    replicated = replicated_sharding(mesh)
    generation = config.generation
    generation_key = stream_key(config.seed, GENERATION_STREAM)
    alone = config.frozen_steps

    def update(state: TrainState, batch: dict[str, Any]) -> tuple[TrainState, dict[str, Array]]:
        # On a mesh the batch is split over the devices and the model replicated; this
        # is the loss of the global batch (every positive against every negative on
        # every device), so its gradients are those of one device, and the compiler
        # inserts the collectives.
        present = batch.get("present")

        def loss_fn(params):
            if state.generators is None:
                return shared_latent_loss(params, batch, config.loss, present)
            model, generators = params
            loss, terms = shared_latent_loss(model, batch, config.loss, present)
            assert generation is not None
            latents = model.embed_batch(dict(batch))
            if generation.stop_gradient:
                latents = jax.lax.stop_gradient(latents)
            # Folded with the step (and 1: 0 is the initialisation), so a resumed run
            # draws what the uninterrupted one did.
            step_key = jr.fold_in(jr.fold_in(generation_key, 1), state.step)
            extra, more = generation_loss(
                generators,
                latents,
                batch,
                present,
                key=step_key,
                kl_weight=generation.kl_weight,
                cycle_weight=generation.cycle,
                model=model,
                rows=generation.rows,
            )
            return loss + generation.weight * extra, {**terms, **more}

        params = trainable(state)
        (loss, terms), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(params)
        params = eqx.filter(params, eqx.is_inexact_array)
        # The generators' own last steps: the shared-latent model is frozen. Its
        # gradients are zeroed (they must not weigh in the clipped global norm) and so
        # are its updates (Adam's momentum and the weight decay would move it).
        frozen = state.step >= config.steps - alone
        if alone > 0:
            grads = _freeze_model(frozen, grads)
        # optax mixes weak Python floats with int32 step counts, which strict dtype
        # promotion (used by this package's tests) rejects; the result is the same.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, state.opt_state, params)
        if alone > 0:
            updates = _freeze_model(frozen, updates)
        if state.generators is None:
            model, generators = eqx.apply_updates(state.model, updates), None
        else:
            model, generators = eqx.apply_updates((state.model, state.generators), updates)
        temperature = jnp.exp(state.model.log_temperature)
        metrics = {"loss": loss, **terms}
        for i, (a, b) in enumerate(state.model.pairs):
            metrics[f"temperature/{a}-{b}"] = temperature[i]
        new_state = TrainState(model, opt_state, state.step + 1, generators)
        arrays, static = eqx.partition(new_state, eqx.is_array)
        # Pinned, so that every step sees the shardings it was compiled for.
        arrays = jax.lax.with_sharding_constraint(arrays, replicated)
        return eqx.combine(arrays, static), metrics

    return update


def _freeze_model(frozen: Array, pair: Any) -> Any:
    """`(model part, generators part)` with the model part zeroed where `frozen` holds
    (traced)."""
    model, generators = pair
    zeroed = jax.tree.map(lambda x: jnp.where(frozen, jnp.zeros_like(x), x), model)
    return zeroed, generators


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
    """The jitted training step on data the run makes itself: make the batch of this
    step, update, report the loss (and what the data config reports, e.g. the
    alignment).

    The batch is made from the step's own key (the training stream's key folded with
    the step) inside the compiled step, by the data config (`AbstractDataConfig.batch`;
    the guide's: items `0, ..., batch_size - 1`): the data never repeats and never
    leaves the devices.

    **Arguments:**

    - `config`: a `TrainConfig` whose `data` is a data config (such as a
        `SyntheticConfig`).
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
        batch, reported = data.batch(config, state.step, key=jr.fold_in(key, state.step), mesh=mesh)
        state, metrics = update(state, batch)
        return state, {"loss": metrics["loss"], **reported, **metrics}

    return _on_mesh(step, mesh)


def make_batch_step(
    config: TrainConfig, mesh: Mesh | None = None
) -> Callable[[TrainState, dict[str, Any]], tuple[TrainState, dict[str, Array]]]:
    """The jitted training step on a batch from elsewhere: a dataset of your own, a
    grain loader, the slices of several processes (`shard_batch`).

    **Arguments:**

    - `config`: a `TrainConfig` (its data fields fix the model's shapes).
    - `mesh`: as for `make_step`.

    **Returns:**

    `step(state, batch) -> (state, metrics)`, where `batch` holds `config.batch_size`
    rows of each modality (and optionally `"present"`, per-modality masks of the rows
    that have it), split along the mesh's `"data"` axis.
    """
    mesh = data_mesh() if mesh is None else mesh
    check_batch_size(config.batch_size, mesh)
    update = _make_update(config, mesh)

    @eqx.filter_jit
    def step(state: TrainState, batch: dict[str, Any]) -> tuple[TrainState, dict[str, Array]]:
        for name in config.modalities:
            if name not in batch or batch[name].shape[0] != config.batch_size:
                shape = batch[name].shape if name in batch else "missing"
                raise ValueError(
                    f"`batch[{name!r}]` must have `batch_size` {config.batch_size} rows, "
                    f"got {shape}"
                )
        used = {name: batch[name] for name in config.modalities}
        if "present" in batch:
            used["present"] = {name: batch["present"][name] for name in config.modalities}
        return update(state, jax.lax.with_sharding_constraint(used, batch_sharding(mesh)))

    return _on_mesh(step, mesh)

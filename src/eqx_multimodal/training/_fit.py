"""The training loop: one `fit` for the synthetic data and for datasets of your own.

A run's folder holds `config.json`, `metrics.jsonl` (one JSON object a logged step) and
its checkpoints (`_checkpoint.py`). The batch of step `k` is a pure function of the seed
and `k` (synthetic: made from the step's key; a dataset: the rows of an epoch's
permutation drawn from the seed), so a run resumed from any checkpoint reproduces the
uninterrupted one exactly.
"""

import contextlib
import dataclasses
import math
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh

from .._io import (
    dumps,
    hold_folder,
    no_space,
    read_json_lines,
    read_text,
    write_atomic,
    write_json,
)
from .._progress import phase, progress as make_bar
from ..distributed import check_batch_size, data_mesh, local_copy, replicate
from ..losses import shared_latent_loss
from ..metrics import retrieval_metrics
from ..modalities import UnknownModalityError
from ..nn import UnknownTowersError
from ._checkpoint import CheckpointError, CONFIG, load_checkpoint, read_index, save_checkpoint
from ._config import TrainConfig
from ._data_config import UnknownDataConfigError
from ._evaluate import embed, non_finite
from ._folder import DATA, EVALUATION, METRICS, prepare_run_folder
from ._source import AbstractDataSource, data_source, Dataset
from ._step import init_state, TrainState


#: Fields that may differ when a run is resumed: they do not change its trajectory
#: (`steps` may only grow; the schedule is then the longer run's).
RESUMABLE_CHANGES = (
    "steps",
    "eval_every",
    "checkpoint_every",
    "checkpoint_seconds",
    "keep",
    "log_every",
)


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message names the step and the last finite
    checkpoint."""


@eqx.filter_jit
def _all_finite(tree: Any) -> jax.Array:
    leaves = [jax.numpy.all(jax.numpy.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jax.numpy.all(jax.numpy.stack(leaves)) if leaves else jax.numpy.asarray(True)


def _validation(
    model, config: TrainConfig, items: dict[str, Any]
) -> tuple[dict[str, float], str | None]:
    """The validation row, and what in it is not finite (None when all is)."""
    loss, terms = eqx.filter_jit(shared_latent_loss)(
        model, items, config.loss, items.get("present")
    )
    latents = embed(model, items)
    row: dict[str, float] = {"val_loss": float(loss)}
    row.update({f"val/{k}": float(v) for k, v in terms.items()})
    problem = non_finite(latents)
    bad = [k for k, v in row.items() if not math.isfinite(v)]
    if bad:
        problem = (
            f"the validation {bad[0].replace('val_', '').replace('val/', '')} is {row[bad[0]]}"
        )
    if problem is not None:
        return row, problem
    recalls = []
    for a in latents:
        for b in latents:
            if a != b:
                r = retrieval_metrics(jax.numpy.asarray(latents[a]), jax.numpy.asarray(latents[b]))
                row[f"val_recall@1 {a}->{b}"] = r["recall@1"]
                row[f"val_recall@10 {a}->{b}"] = r["recall@10"]
                recalls.append(r["recall@10"])
    row["val_score"] = float(np.mean(recalls)) if recalls else 0.0
    return row, None


def _check_resume(saved: TrainConfig, config: TrainConfig, start: int) -> list[str]:
    """The messages a resumed run prints; an error when the configs cannot continue."""
    differ = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(config, f.name)
    ]
    if differ:
        raise ValueError(
            f"cannot resume: the saved config differs in {differ}; resume with the run's own "
            "options (only --steps, --log-every and the checkpoint options may change), or "
            "train into a new --out"
        )
    alone = config.frozen_steps
    if alone and config.steps != saved.steps:
        raise ValueError(
            f"cannot resume with `steps` {config.steps}: the run's last {alone} steps train "
            f"the generators alone, so its {saved.steps} steps cannot change"
        )
    if config.steps < start:
        raise ValueError(
            f"cannot resume: `steps` {config.steps} is below the checkpoint's step {start}"
        )
    if config.steps != saved.steps:
        return [
            f"the run continues to {config.steps} steps (it was set for {saved.steps}): from "
            f"step {start} on, the learning-rate schedule is that of a {config.steps}-step run"
        ]
    return []


def fit(
    config: TrainConfig,
    out: pathlib.Path | str,
    *,
    data: Dataset | AbstractDataSource | None = None,
    validation: Dataset | None = None,
    data_info: dict[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    until: int | None = None,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    mesh: Mesh | None = None,
) -> tuple[TrainState, list[dict[str, Any]]]:
    """Train a `SharedLatentModel` as `config` says, writing into the folder `out`.

    Writes `config.json`, `metrics.jsonl` (one JSON object a logged step; strict JSON),
    and a checkpoint every `checkpoint_every` steps, every `checkpoint_seconds`, at each
    validation that is the best so far, at the end, and when interrupted (Ctrl-C). A
    loss, a validation loss or validation embeddings that become NaN or infinite stop
    the run with `TrainingDiverged`; a checkpoint is written only when its state, and
    its embeddings of the validation items, are finite.

    **Arguments:**

    - `config`: a `TrainConfig`.
    - `out`: the run's folder (created).
    - `data`: keyword only. What to train on: a data source (`AbstractDataSource`,
        e.g. `DatasetSource`, `SyntheticSource`), or the dataset to train on when
        `config.data` is a `DataSpec` (a `PairedDataset`, a `PairedFolder` whose files
        are read as the batches are made, or a `GrainSource` over one; its `spec` must
        be `config.data`), or None for the synthetic data of a `SyntheticConfig`, which
        is made inside the step. The source is built once (`data_source`).
    - `validation`: keyword only. The dataset to validate on (its first `val_gallery`
        samples), for a run on a dataset; without it, such a run is not validated.
        Synthetic runs validate on their own held-out stream.
    - `data_info`: keyword only. More to record in the run's `data.json` about the
        dataset (e.g. how it was split), for a run on a dataset.
    - `resume`: keyword only. Continue from the latest checkpoint in `out`; the run then
        reproduces the uninterrupted one exactly. The saved config must match `config`,
        except for the fields that do not change the run's trajectory
        (`RESUMABLE_CHANGES`); `steps` may grow (the schedule from then on is that of
        the longer run).
    - `overwrite`: keyword only. Replace the run already in `out`: its files (those
        a run writes: config, metrics, checkpoint index and checkpoints, evaluation,
        report, data record) are removed, nothing else. Without it (or `resume`), a
        folder that holds a run is refused. A folder that holds a paired folder (data)
        is always refused. While `fit` runs, `out` is locked: a second writer is
        refused with the first one's process and host named.
    - `until`: keyword only. Stop after this step (as if interrupted); default
        `config.steps`.
    - `progress`: keyword only. Show progress and what is happening on stderr.
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
    source = data_source(config, data, validation, data_info)
    primary = jax.process_index() == 0
    out = pathlib.Path(out)
    # Process 0 writes `out`, as its one writer; the lock is held until `fit` returns.
    with hold_folder(out) if primary else contextlib.nullcontext():
        if primary:
            prepare_run_folder(
                out, resume=resume, overwrite=overwrite, data_folders=source.folders()
            )
        return _fit(config, out, source, resume, until, progress, on_log, mesh)


def _fit(
    config: TrainConfig,
    out: pathlib.Path,
    source: AbstractDataSource,
    resume: bool,
    until: int | None,
    progress: bool,
    on_log: Callable[[dict[str, Any]], None] | None,
    mesh: Mesh,
) -> tuple[TrainState, list[dict[str, Any]]]:
    primary = jax.process_index() == 0
    talk = progress and primary
    state = init_state(config)
    messages: list[str] = []
    best = -math.inf
    # The last step before the generators train alone (`GenerationConfig.frozen_steps`).
    generators_alone = config.steps - config.frozen_steps if config.frozen_steps else math.inf
    if resume:
        if not (out / CONFIG).exists():
            raise CheckpointError(f"{str(out)!r} has no {CONFIG} to resume from")
        try:
            saved = TrainConfig.from_json(read_text(out / CONFIG))
        except (UnknownModalityError, UnknownTowersError, UnknownDataConfigError) as error:
            raise CheckpointError(f"{str(out / CONFIG)!r}: {error}") from None
        except (ValueError, TypeError) as error:
            raise CheckpointError(f"{str(out / CONFIG)!r} is corrupt: {error}") from None
        index = read_index(out)
        messages = _check_resume(saved, config, int(index["latest"]["step"]))
        source.check_resume(out)
        # The optimiser's schedule is part of its state's structure only through `steps`,
        # which lives in the config, not in the state: load into the saved run's state.
        state, _ = load_checkpoint(out, state)
        if index.get("best"):
            best = float(index["best"].get("score", -math.inf))
    state = replicate(state, mesh)

    start = int(state.step)
    history = []
    if resume and (out / METRICS).exists():
        history = [r for r in read_json_lines(out / METRICS) if r["step"] <= start]
    stop = config.steps if until is None else min(until, config.steps)
    advance, position = source.feed(config, mesh, start, stop)
    items: dict[str, Any] | None = None
    if primary:
        if talk:
            for message in messages:
                print(message, file=sys.stderr)
        write_atomic(out / CONFIG, config.to_json().encode())
        write_atomic(out / METRICS, "".join(dumps(r) + "\n" for r in history).encode())
        record = source.record()
        if record is not None:
            write_json(out / DATA, record)
        items = source.validation_items(config, talk=talk)
    log = (out / METRICS).open("a") if primary else None
    last_saved, last_time = start, time.perf_counter()

    def checkpoint(at: TrainState, done: int, score: float | None = None) -> None:
        nonlocal last_saved, last_time
        if primary:
            where = position(done)
            extra = None if where is None else {"data": where}
            save_checkpoint(out, local_copy(at), done, keep=config.keep, best=score, extra=extra)
        last_saved, last_time = done, time.perf_counter()

    bar = make_bar(stop, "train", unit="steps", enabled=talk, initial=start)
    previous: tuple[int, Any] | None = None  # the last step's loss, checked one step late

    def diverged(problem: str, done: int) -> TrainingDiverged:
        where = (
            f"the last finite checkpoint is step {last_saved} in {out}"
            if last_saved > 0
            else "no checkpoint was saved"
        )
        return TrainingDiverged(
            f"training diverged: {problem} at step {done}; {where} (try a lower learning rate)"
        )

    def check_finite(done: int, loss: Any) -> None:
        value = float(loss)
        if not math.isfinite(value):
            raise diverged(f"the loss is {value}", done)

    def check_state(at: TrainState, done: int, validated: bool) -> None:
        """A checkpoint is finite everywhere: its state, and (unless just validated) its
        embeddings of the validation items."""
        if not bool(_all_finite(eqx.filter(local_copy(at), eqx.is_inexact_array))):
            raise diverged("the parameters are not finite", done)
        if primary and items is not None and not validated:
            problem = non_finite(embed(local_copy(at.model), items))
            if problem is not None:
                raise diverged(problem, done)

    try:
        with bar:
            tick, tick_step = time.perf_counter(), start
            for k in range(start, stop):
                if k == start:
                    with phase("compiling the training step", enabled=talk):
                        new_state, metrics = advance(state)
                        jax.block_until_ready(metrics["loss"])
                else:
                    new_state, metrics = advance(state)
                if previous is not None:
                    check_finite(*previous)
                state, done = new_state, k + 1
                previous = (done, metrics["loss"])
                row: dict[str, Any] | None = None
                evaluating = done % config.eval_every == 0 or done == config.steps
                validating = primary and evaluating and items is not None
                # Logging depends only on the step, so a resumed run logs what an
                # uninterrupted one would; a validated step logs its training loss too.
                if done % config.log_every == 0 or done == config.steps or validating:
                    now = time.perf_counter()
                    row = {"step": done, **{m: float(v) for m, v in metrics.items()}}
                    row["steps_per_sec"] = (done - tick_step) / max(now - tick, 1e-9)
                    tick, tick_step = now, done
                score = None
                if validating and items is not None:
                    check_finite(done, metrics["loss"])
                    values, problem = _validation(local_copy(state.model), config, items)
                    if problem is not None:
                        raise diverged(problem, done)
                    row = {**(row or {}), **values}
                    # With generators, a checkpoint is the best only once they have
                    # trained alone on the frozen model (whose score then stays put):
                    # one from before would pair the model with half-trained ones.
                    if values["val_score"] > best or done > generators_alone:
                        best = score = values["val_score"]
                if row is not None:
                    history.append(row)
                    if log is not None:
                        _append(log, dumps(row) + "\n", out)
                    if on_log is not None:
                        on_log(row)
                    bar.set_postfix(loss=row.get("loss", row.get("val_loss")), refresh=False)
                due = (
                    done % config.checkpoint_every == 0
                    or done == stop
                    or score is not None
                    or time.perf_counter() - last_time >= config.checkpoint_seconds
                )
                if due:
                    check_finite(done, metrics["loss"])
                    check_state(state, done, validated=validating)
                    checkpoint(state, done, score)
                bar.update(1)
    except KeyboardInterrupt:
        done = int(state.step)
        if done > last_saved:
            if previous is not None:
                check_finite(*previous)
            check_state(state, done, validated=False)
            checkpoint(state, done)
        raise
    finally:
        if log is not None:
            log.close()
    return state, history


def _append(log: Any, line: str, out: pathlib.Path) -> None:
    """Append a line to the metrics log; a full disk says which folder."""
    try:
        log.write(line)
        log.flush()
    except OSError as error:
        full = no_space(error)
        if full is not None:
            raise OSError(full.errno, f"no space left on {out}") from None
        raise


def load_run(
    directory: pathlib.Path | str, *, which: str = "latest"
) -> tuple[TrainConfig, TrainState]:
    """The config and a checkpoint (`"latest"` or `"best"`) of a training run's folder."""
    directory = pathlib.Path(directory)
    read_index(directory)
    config_path = directory / CONFIG
    if not config_path.exists():
        raise CheckpointError(f"{str(directory)!r} has no {CONFIG}")
    try:
        config = TrainConfig.from_json(read_text(config_path))
    except (
        UnknownModalityError,
        UnknownTowersError,
        UnknownDataConfigError,
    ) as error:  # yours: --import it
        raise CheckpointError(f"{str(config_path)!r}: {error}") from None
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{str(config_path)!r} is corrupt: {error}") from None
    state, _ = load_checkpoint(directory, init_state(config), which=which)
    return config, state


def write_evaluation(directory: pathlib.Path, result: dict[str, Any]) -> None:
    """`evaluation.json` of a run (strict JSON)."""
    write_json(pathlib.Path(directory) / EVALUATION, result)

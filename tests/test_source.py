"""The data-source seam: `fit` trains on any `AbstractDataSource`, asks it everything that
depends on the data, and branches on no kind of data itself."""

import ast
import json
import pathlib
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.training import (
    AbstractDataConfig,
    AbstractDataSource,
    data_source,
    DatasetSource,
    Feed,
    fit,
    make_batch_step,
    register_data_config,
    SyntheticSource,
    TrainConfig,
)


def _arrays(n=16, *, seed=0):
    rng = np.random.default_rng(seed)
    return em.PairedDataset(
        {
            "image": rng.uniform(size=(n, 8, 8, 1)).astype(np.float32),
            "text": rng.integers(0, 12, (n, 5)).astype(np.int32),
        }
    )


def _config(spec, **changes):
    fields = dict(
        data=spec,
        steps=2,
        batch_size=4,
        latent_dim=8,
        d_model=16,
        log_every=1,
        eval_every=2,
        checkpoint_every=2,
        val_gallery=4,
        loss=LossWeights(reconstruction={}),
    )
    return TrainConfig(**{**fields, **changes})


class FixedBatches(AbstractDataSource):
    """A source of a user's own: every step trains on rows 0..batch_size - 1."""

    dataset: em.PairedDataset

    @property
    def spec(self):
        return self.dataset.spec

    def check(self, config):
        if config.spec != self.spec:
            raise ValueError("`data` has other shapes")

    def feed(self, config, mesh, start, stop):
        step = make_batch_step(config, mesh)
        rows = self.dataset[:]
        batch = {m: jnp.asarray(rows[m][: config.batch_size]) for m in config.modalities}
        return Feed(lambda state: step(state, batch), lambda done: {"fixed": done})

    def validation_items(self, config, *, talk):
        return None

    def record(self):
        return {"mine": True}


def test_fit_trains_on_a_source_of_your_own(tmp_path):
    data = _arrays()
    config = _config(data.spec)
    state, history = fit(config, tmp_path / "run", data=FixedBatches(data), progress=False)
    assert int(state.step) == 2 and [row["step"] for row in history] == [1, 2]
    assert all(np.isfinite(row["loss"]) for row in history)
    assert json.loads((tmp_path / "run" / "data.json").read_text()) == {"mine": True}
    index = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert index["data"] == {"fixed": 2}


@pytest.mark.slow
def test_a_dataset_and_its_source_train_alike(tmp_path):
    data = _arrays()
    config = _config(data.spec)
    _, plain = fit(config, tmp_path / "a", data=data, validation=data, progress=False)
    source = DatasetSource(data, data)
    _, sourced = fit(config, tmp_path / "b", data=source, progress=False)

    def untimed(rows):
        return [{k: v for k, v in row.items() if k != "steps_per_sec"} for row in rows]

    assert untimed(plain) == untimed(sourced)
    assert "val_loss" in sourced[-1]
    record = json.loads((tmp_path / "b" / "data.json").read_text())
    assert record == json.loads((tmp_path / "a" / "data.json").read_text())
    assert record["samples"] == 16


def test_data_source_builds_and_checks_once():
    config = TrainConfig(steps=4)
    assert data_source(config) == SyntheticSource(config.data)
    other = SyntheticSource(em.SyntheticConfig(alignment=0.5))
    with pytest.raises(ValueError, match="the source's synthetic data differs"):
        data_source(config, other)
    with pytest.raises(ValueError, match="`data` and `validation` are for runs on a dataset"):
        data_source(config, _arrays())
    with pytest.raises(ValueError, match="`data` and `validation` are for runs on a dataset"):
        data_source(config, DatasetSource(_arrays()))
    spec_config = _config(_arrays().spec)
    with pytest.raises(ValueError, match="`data` is required"):
        data_source(spec_config)
    source = DatasetSource(_arrays())
    with pytest.raises(ValueError, match="`validation` and `data_info` belong to the source"):
        data_source(spec_config, source, info={"split": "x"})
    with pytest.raises(TypeError, match="dataset"):
        DatasetSource(np.zeros(3))
    with pytest.raises(TypeError, match="config"):
        SyntheticSource(spec_config.data)  # pyright: ignore[reportArgumentType]


def test_fit_has_no_branch_on_the_kind_of_data():
    # The loop names no dataset class and no synthetic config: it asks its source.
    import eqx_multimodal.training._fit as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    kinds = {"SyntheticConfig", "SyntheticDataset", "PairedDataset", "PairedFolder"}
    kinds |= {"GrainSource", "BatchStream", "synthetic", "synthetic_config", "make_step"}
    assert names & kinds == set()


class Noise(AbstractDataConfig):
    """A data config of a user's own: random images and tokens made inside the step."""

    kind: ClassVar[str] = "noise_for_a_test"
    size: int = eqx.field(static=True, default=8)

    @property
    def spec(self):
        return em.DataSpec(
            ["image", "text"], image_shape=(self.size, self.size, 1), vocab_size=12, seq_length=5
        )

    def batch(self, config, step, *, key, mesh):
        ikey, tkey = jr.split(key)
        rows = config.batch_size
        batch = {
            "image": jr.uniform(ikey, (rows, self.size, self.size, 1)),
            "text": jr.randint(tkey, (rows, 5), 0, 12),
        }
        return batch, {"noise_step": step}

    def gallery(self, size, *, key):
        rng = np.random.default_rng(int(jr.randint(key, (), 0, 2**30)))
        return {
            "image": rng.uniform(size=(size, self.size, self.size, 1)).astype(np.float32),
            "text": rng.integers(0, 12, (size, 5)).astype(np.int32),
        }

    def evaluation_record(self):
        return {"noise": True}

    def to_dict(self):
        return {"size": self.size}


register_data_config(Noise)


@pytest.mark.slow  # a run and an evaluation (6 s): the README's command runs it
def test_a_data_config_of_your_own_trains_evaluates_and_round_trips(tmp_path):
    # The core's seam for data a run makes itself: the guide's SyntheticConfig is one
    # registration of it; a config of yours trains, validates, evaluates and is
    # recorded in config.json with its kind.
    config = _config(Noise(), towers="generic")
    assert type(data_source(config)) is SyntheticSource
    recorded = config.to_dict()["data"]
    assert recorded == {"kind": "noise_for_a_test", "size": 8}
    assert TrainConfig.from_json(config.to_json()) == config
    state, history = fit(config, tmp_path / "run", progress=False)
    assert int(state.step) == 2 and [row["step"] for row in history] == [1, 2]
    assert all(np.isfinite(row["loss"]) for row in history)
    assert [row["noise_step"] for row in history] == [0, 1]
    assert "val_loss" in history[-1]
    # a run of a config that no module registered now says to import it, not "corrupt"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data"]["kind"] == "noise_for_a_test"
    assert em.training.load_run(tmp_path / "run")[0] == config
    saved["data"]["kind"] = "noise_elsewhere"
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    with pytest.raises(em.training.CheckpointError) as error:
        em.training.load_run(tmp_path / "run")
    assert "--import MODULE" in str(error.value) and "corrupt" not in str(error.value)
    result = em.training.evaluate(state.model, Noise(), gallery=6, key=jr.key(1))
    assert result["noise"] is True and result["gallery"] == 6
    # the guide's config keeps its old config.json (no kind), and an unknown kind is
    # refused in one line
    assert "kind" not in TrainConfig(steps=3).to_dict()["data"]
    with pytest.raises(em.training.UnknownDataConfigError, match="kind 'nothing', which no"):
        TrainConfig.from_dict({"data": {"kind": "nothing"}})
    with pytest.raises(ValueError, match="already registered"):
        register_data_config(type("Noise", (Noise,), {}))
    # what only the guide's data has is refused for it in one line
    with pytest.raises(ValueError, match="`curriculum_start` needs data whose alignment moves"):
        _config(Noise(), towers="generic", curriculum_start=0.2)
    with pytest.raises(ValueError, match="the default data config is SyntheticConfig already"):
        register_data_config(Noise, default=True)
    assert type(TrainConfig.from_dict({"data": {"alignment": 0.5}}).data) is em.SyntheticConfig
    from eqx_multimodal.cli._data_options import at_alignment, held_out_gallery
    from eqx_multimodal.cli._errors import CommandError

    with pytest.raises(CommandError, match="--alignment: this run's data \\(noise_for_a_test\\)"):
        at_alignment(Noise(), 0.5)
    assert held_out_gallery(Noise(), 3, 0)["image"].shape == (3, 8, 8, 1)

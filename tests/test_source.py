"""The data-source seam: `fit` trains on any `AbstractDataSource`, asks it everything that
depends on the data, and branches on no kind of data itself."""

import ast
import json
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.training import (
    AbstractDataSource,
    data_source,
    DatasetSource,
    Feed,
    fit,
    make_batch_step,
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

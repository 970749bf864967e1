"""Modalities are values and the set is open: a modality registered from this file (not
the library) is written to a folder, read back, trained, evaluated, embedded and drawn;
and every refusal is one line that names the modality (and the file)."""

import json
import pickle
import shutil

import equinox as eqx
import hypothesis.strategies as st
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

import eqx_multimodal as em
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.modalities._registry import _forget
from eqx_multimodal.nn import MLPEncoder
from eqx_multimodal.testing import modality_items, paired_datasets
from eqx_multimodal.training import evaluate, fit, TrainConfig

from .helpers import run_cli


SHAPE = (2, 3)


def read_probe(path, where):
    return np.load(path, allow_pickle=False)


def write_probe(path, item):
    np.save(path, item)


def probe_encoder(spec, d_model, *, key):
    return MLPEncoder(spec.shape("probe"), 8, d_model, modality="probe", key=key)


def _probe(name="probe", **changes):
    fields = dict(shape=SHAPE, suffix=".npy", read=read_probe, write=write_probe)
    return em.Modality(name, **{**fields, "encoder": probe_encoder, **changes})


@pytest.fixture(scope="module")
def probe():
    modality = em.register_modality(_probe())
    yield modality
    _forget("probe")


def _one_line(error):
    text = str(error.value)
    assert len(text.splitlines()) == 1, text
    return text


def _data(n, *, seed=0):
    """Image, tokens and the probe, all of one class a sample (a learnable pairing)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    image = 0.1 * rng.uniform(size=(n, 4, 4, 1)) + 0.8 * labels[:, None, None, None]
    text = rng.integers(3, 9, size=(n, 5)) + 10 * labels[:, None]
    probe = rng.normal(size=(n, *SHAPE)).astype(np.float32) + 2.0 * labels[:, None, None]
    return {"image": image, "text": text, "probe": probe}


@pytest.fixture(scope="module")
def folder(probe, tmp_path_factory):
    return em.save_paired_folder(tmp_path_factory.mktemp("probe") / "data", _data(24))


@pytest.fixture(scope="module")
def run(folder, tmp_path_factory):
    """One tiny fit (2 steps), shared by the tests that need a trained model."""
    data = em.PairedFolder(folder)
    config = TrainConfig(
        data=data.spec, steps=2, batch_size=8, latent_dim=8, d_model=16, log_every=1,
        eval_every=2, checkpoint_every=100, val_gallery=8, loss=LossWeights(reconstruction={}),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("run") / "run"
    state, _ = fit(config, out, data=data, validation=data, progress=False)
    return out, state


# --- the registry ------------------------------------------------------------------------


def test_the_registry_knows_the_built_ins_first_and_then_yours(probe):
    names = em.registered_modalities()
    assert names[:3] == ("image", "text", "audio") and "probe" in names
    assert em.get_modality("probe") is probe
    assert em.modalities.get_modality("image").suffix == ".png"
    with pytest.raises(ValueError) as error:
        em.get_modality("smell")
    assert "unknown modality 'smell'" in _one_line(error) and "'probe'" in str(error.value)


def test_a_second_registration_of_a_name_is_refused(probe):
    with pytest.raises(ValueError) as error:
        em.register_modality(_probe())
    assert "modality 'probe' is already registered" in _one_line(error)
    again = _probe()
    assert em.register_modality(again, replace=True) is again
    em.register_modality(probe, replace=True)
    assert em.get_modality("probe") is probe


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"name": "Probe"}, "lower-case letters"),
        ({"name": "latent"}, "lower-case letters"),
        ({"dtype": "float64"}, "`dtype` must be one of"),
        ({"shape": (0, 3)}, "`shape` sizes must be positive"),
        ({"write": None}, "give both `read` and `write`"),
        ({"suffix": "npy"}, "`suffix` must be like '.npy'"),
    ],
)
def test_a_modality_checks_its_fields(fields, message):
    with pytest.raises((ValueError, TypeError)) as error:
        _probe(fields.pop("name", "probe"), **fields)
    assert message in _one_line(error)


# --- a folder of it ----------------------------------------------------------------------


def test_a_folder_keeps_it_one_file_a_sample(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["modalities"] == ["image", "text", "probe"]
    assert manifest["shapes"] == {"probe": list(SHAPE)}
    assert manifest["samples"][3]["probe"] == "probe/000003.npy"
    data = em.PairedFolder(folder)
    assert data.modalities == ("image", "text", "probe")
    assert data.spec.shape("probe") == SHAPE and dict(data.spec.shapes) == {"probe": SHAPE}
    np.testing.assert_array_equal(data.read(3)["probe"], _data(24)["probe"][3])
    loaded = data.load()
    assert loaded.spec == data.spec and loaded.pairs == (
        ("image", "text"), ("image", "probe"), ("text", "probe"),
    )  # fmt: skip
    assert em.DataSpec.from_dict(data.spec.to_dict()) == data.spec
    # A worker process (grain) reads with the folder's own copy of the modality.
    copied = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(copied.read(5)["probe"], data.read(5)["probe"])


def test_samples_may_lack_it_and_a_folder_without_manifest_finds_it(folder, tmp_path):
    missing = shutil.copytree(folder, tmp_path / "missing")
    manifest = json.loads((missing / "manifest.json").read_text())
    manifest["samples"][2].pop("probe")
    (missing / "manifest.json").write_text(json.dumps(manifest))
    (missing / "probe" / "000002.npy").unlink()
    with pytest.raises(ValueError) as error:
        em.PairedFolder(missing)
    assert "samples[2] (id '000002') names no probe file" in _one_line(error)
    data = em.PairedFolder(missing, allow_missing=True)
    item = data.read(2)
    assert not item["present"]["probe"] and item["present"]["image"]
    np.testing.assert_array_equal(item["probe"], np.zeros(SHAPE, np.float32))
    assert data.counts()["probe"] == 23
    (missing / "manifest.json").unlink()
    scanned = em.PairedFolder(missing, allow_missing=True)
    assert scanned.modalities == ("image", "text", "probe") and scanned.spec.shape("probe") == SHAPE


def test_an_unregistered_modality_in_a_manifest_is_named(folder, tmp_path):
    broken = shutil.copytree(folder, tmp_path / "broken")
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["modalities"].append("smell")
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError) as error:
        em.PairedFolder(broken)
    text = _one_line(error)
    assert text.startswith("manifest.json:") and "'smell' is not a registered modality" in text
    em.register_modality(em.Modality("smell", shape=(2,)), replace=True)  # no files
    try:
        with pytest.raises(ValueError) as error:
            em.PairedFolder(broken)
        assert "modality 'smell' has no files to read" in _one_line(error)
    finally:
        _forget("smell")


@pytest.mark.parametrize(
    "item,message",
    [
        (np.zeros(5, np.float32), "probe/000004.npy: a 'probe' item has shape (2, 3), got (5,)"),
        (np.zeros(SHAPE, np.float64), "probe/000004.npy: a 'probe' item must be float32"),
        (np.full(SHAPE, np.nan, np.float32), "probe/000004.npy: a 'probe' item holds NaN"),
    ],
)
def test_a_reader_returning_the_wrong_item_is_named(item, message, folder, tmp_path):
    broken = shutil.copytree(folder, tmp_path / "broken")
    np.save(broken / "probe" / "000004.npy", item)
    data = em.PairedFolder(broken)  # the first file sets the shape; this one is read later
    with pytest.raises((ValueError, TypeError)) as error:
        data.read(4)
    assert message in _one_line(error)
    (broken / "probe" / "000004.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError) as error:
        data.read(4)
    assert "probe/000004.npy: the 'probe' reader failed" in _one_line(error)


def augment(item, rng):
    """A transform: deterministic without a generator, random with one."""
    if rng is None:
        return 2 * item
    return item + rng.normal(size=item.shape).astype(np.float32)


def test_its_transform_applies_to_what_a_folder_reads(probe, folder):
    raw = np.load(folder / "probe" / "000004.npy")
    try:
        em.register_modality(_probe(transform=augment), replace=True)
        data = em.PairedFolder(folder)  # it keeps the values it reads with
        np.testing.assert_array_equal(data.read(4)["probe"], 2 * raw)
        # a folder travels to grain's workers by pickle, its transform with it
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(data)).read(4)["probe"], 2 * raw)
        np.testing.assert_array_equal(data.load().data["probe"][4], 2 * raw)
        drawn = [data.read(4, rng=np.random.default_rng(s))["probe"] for s in (0, 0, 1)]
        np.testing.assert_array_equal(drawn[0], drawn[1])
        assert not np.allclose(drawn[0], drawn[2]) and not np.allclose(drawn[0], 2 * raw)
        for transform, message in [
            (lambda item, rng: item[:1], "probe/000004.npy (after the 'probe' transform): a "
             "'probe' item has shape (2, 3), got (1, 3)"),
            (lambda item, rng: item.astype(np.float64), "a 'probe' item must be float32"),
            (lambda item, rng: 1 / 0, "probe/000004.npy: the 'probe' transform failed: "
             "ZeroDivisionError: division by zero"),
        ]:  # fmt: skip
            em.register_modality(_probe(transform=transform), replace=True)
            with pytest.raises((ValueError, TypeError)) as error:
                em.PairedFolder(folder).read(4)
            assert message in _one_line(error)
    finally:
        em.register_modality(probe, replace=True)
    image = em.get_modality("image")
    try:  # the built-ins have the folder's own transforms: one given is refused, not lost
        em.register_modality(em.Modality(**{**image.__dict__, "transform": augment}), replace=True)
        with pytest.raises(ValueError) as error:
            em.PairedFolder(folder)
        assert "modality 'image' is read by the folder's own format" in _one_line(error)
    finally:
        em.register_modality(image, replace=True)


def test_arrays_of_it_are_checked(probe):
    with pytest.raises(ValueError) as error:
        em.PairedDataset({"image": np.zeros((2, 4, 4, 1)), "probe": np.zeros((2, 4, 3))})
    assert "a 'probe' item has shape (2, 3), got (4, 3)" in _one_line(error)
    with pytest.raises(ValueError) as error:
        em.PairedDataset({"image": np.zeros((2, 4, 4, 1)), "smell": np.zeros((2, 3))})
    assert "'smell'" in _one_line(error)


def test_an_encoder_whose_width_is_not_d_model_is_named(probe, folder):
    import jax.random as jr

    def wide(spec, d_model, *, key):
        return MLPEncoder(spec.shape("probe"), 8, d_model + 1, modality="probe", key=key)

    em.register_modality(_probe(encoder=wide), replace=True)
    try:
        with pytest.raises(ValueError) as error:
            em.nn.make_encoder("probe", em.PairedFolder(folder), 16, key=jr.key(0))
        assert "the encoder of modality 'probe' (MLPEncoder) has width 17, not d_model 16" in (
            _one_line(error)
        )
    finally:
        em.register_modality(probe, replace=True)


def test_the_guide_towers_refuse_it(folder):
    import jax.random as jr

    with pytest.raises(ValueError) as error:
        em.nn.make_encoder("probe", em.PairedFolder(folder), 16, towers="guide", key=jr.key(0))
    assert "modality 'probe' has only its registered towers" in _one_line(error)


# --- trained, evaluated, embedded, drawn -------------------------------------------------


@pytest.mark.slow
def test_it_trains_and_every_ordered_pair_is_evaluated(run, folder):
    _, state = run
    assert state.model.modalities == ("image", "text", "probe")
    assert type(state.model.encoders["probe"]).__name__ == "MLPEncoder"
    result = evaluate(state.model, em.PairedFolder(folder))
    names = ("image", "text", "probe")
    assert set(result["retrieval"]) == {f"{a}->{b}" for a in names for b in names if a != b}
    assert all(0.0 <= v["recall@1"] <= 1.0 for v in result["retrieval"].values())


@pytest.mark.slow
def test_the_command_line_evaluates_embeds_and_previews_it(run, folder, tmp_path, capsys):
    out, _ = run
    scores = tmp_path / "eval.json"
    argv = ["evaluate", "--checkpoint", str(out), "--data", str(folder), "--json", str(scores)]
    assert run_cli(argv) == 0
    assert "probe->image" in json.loads(scores.read_text())["retrieval"]
    embeddings = tmp_path / "z.npz"
    argv = ["embed", "--checkpoint", str(out), "--data", str(folder), "--out", str(embeddings)]
    assert run_cli([*argv, "--quiet"]) == 0
    assert np.load(embeddings)["probe"].shape == (24, 8)
    picture = tmp_path / "samples.png"
    assert run_cli(["preview", "--data", str(folder), "--rows", "2", "--out", str(picture)]) == 0
    assert picture.stat().st_size > 0 and "image, text, probe" in capsys.readouterr().out


def test_import_registers_a_module_of_yours_before_the_command_line(tmp_path, capsys):
    module = tmp_path / "my_signals.py"
    module.write_text(
        "import eqx_multimodal as em\nem.register_modality(em.Modality('my_signal', shape=(4,)))\n"
    )
    try:
        assert run_cli(["preview", "--import", str(module), "--data", str(tmp_path / "none")]) == 2
        err = capsys.readouterr().err
        assert "does not exist" in err  # --import worked; the folder is what is missing
        assert "my_signal" in em.registered_modalities()
    finally:
        _forget("my_signal")
    assert run_cli(["train", "--import", "no_such_module_of_yours", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "--import 'no_such_module_of_yours': no module named 'no_such_module_of_yours'"
    )
    assert len(err.splitlines()) == 1


@given(data=st.data())
def test_the_strategies_draw_it(probe, data):
    dataset = data.draw(paired_datasets(modalities=("image", "probe"), max_samples=4))
    assert set(dataset.modalities) <= {"image", "probe"}
    if "probe" in dataset.modalities:
        assert dataset.data["probe"].shape[1:] == SHAPE
        assert dataset.spec.shape("probe") == SHAPE
    items = data.draw(modality_items("probe", 3))
    assert items.shape == (3, *SHAPE) and items.dtype == np.float32


# --- many modalities: an anchor ----------------------------------------------------------


def test_an_anchor_trains_only_its_pairs(probe, folder):
    import jax.numpy as jnp
    import jax.random as jr

    from eqx_multimodal.losses import shared_latent_loss

    def encoder(name):
        return lambda spec, d, *, key: MLPEncoder(spec.shape(name), 4, d, modality=name, key=key)

    names = ("probe", "probe_b", "probe_c")
    for name in names[1:]:
        em.register_modality(_probe(name, encoder=encoder(name)), replace=True)
    try:
        items = {m: np.ones((4, *SHAPE), np.float32) * i for i, m in enumerate(names)}
        data = em.PairedDataset(items)
        model = em.nn.SharedLatentModel(data, latent_dim=4, d_model=8, key=jr.key(0))
        batch = {m: jnp.asarray(v) for m, v in items.items()}
        weights = LossWeights(reconstruction={}, anchor="probe")
        _, terms = shared_latent_loss(model, batch, weights)
        assert set(terms) == {"contrastive/probe-probe_b", "contrastive/probe-probe_c"}
        _, every = shared_latent_loss(model, batch, LossWeights(reconstruction={}))
        assert set(every) == set(terms) | {"contrastive/probe_b-probe_c"}
        with pytest.raises(ValueError) as error:
            TrainConfig(data=data.spec, loss=LossWeights(anchor="audio"))
        assert "`anchor` 'audio' is not a modality of the data" in _one_line(error)
        with pytest.raises(ValueError) as error:
            LossWeights(anchor="smell")
        assert "unknown modality 'smell'" in _one_line(error)
    finally:
        for name in names[1:]:
            _forget(name)


#: What the entry point of a (pretend) installed plug-in names.
PLUGGED = _probe("plugged")


def test_an_installed_package_registers_through_its_entry_point(monkeypatch):
    from importlib.metadata import EntryPoint

    from eqx_multimodal.modalities import _registry

    group = em.modalities.ENTRY_POINT_GROUP
    found = [EntryPoint("plugged", f"{__name__}:PLUGGED", group)]
    monkeypatch.setattr(_registry.importlib.metadata, "entry_points", lambda group: found)
    try:
        _registry._load_plugins()
        assert em.get_modality("plugged") is PLUGGED
    finally:
        _forget("plugged")
    found[:] = [EntryPoint("broken", f"{__name__}:NOT_THERE", group)]
    with pytest.raises(ImportError) as error:
        _registry._load_plugins()
    assert "the modality plug-in 'broken'" in _one_line(error) and "failed to load" in str(
        error.value
    )


class FlatDecoder(em.nn.AbstractDecoder):
    """A condition through one linear layer, reshaped to an item (a decoder of yours)."""

    linear: eqx.nn.Linear
    shape: tuple[int, ...] = eqx.field(static=True)
    d_in: int = eqx.field(static=True)
    modality: str = eqx.field(static=True)

    def __init__(self, d_in, shape, modality, *, key):
        self.linear = eqx.nn.Linear(d_in, int(np.prod(shape)), key=key)
        self.shape, self.d_in, self.modality = tuple(shape), d_in, modality

    def __call__(self, condition, *, key=None, greedy=False, temperature=1.0):
        return self.linear(condition).reshape(self.shape)

    def teacher_output(self, condition, target):
        return self(condition)


def _with_decoder(name, hidden, decoder_class=None):
    """A probe-shaped modality of yours with an `MLPEncoder` and a `FlatDecoder` (or
    `decoder_class`)."""
    decoder_class = FlatDecoder if decoder_class is None else decoder_class

    def decoder(spec, d_in, *, key):
        return decoder_class(d_in, spec.shape(name), name, key=key)

    def encoder(spec, d_model, *, key):
        return MLPEncoder(spec.shape(name), hidden, d_model, modality=name, key=key)

    return _probe(name, encoder=encoder, decoder=decoder)


def test_a_decoder_of_yours_reconstructs_and_a_modality_without_one_has_none(probe):
    import jax.numpy as jnp
    import jax.random as jr

    from eqx_multimodal.losses import shared_latent_loss

    em.register_modality(_with_decoder("probe_d", 4), replace=True)
    try:
        items = {"probe": np.zeros((4, *SHAPE), np.float32), "probe_d": np.ones((4, *SHAPE))}
        data = em.PairedDataset(items)
        model = em.nn.SharedLatentModel(data, latent_dim=4, d_model=8, key=jr.key(0))
        assert set(model.decoders) == {"probe_d"}
        batch = {m: jnp.asarray(v, jnp.float32) for m, v in items.items()}
        weights = LossWeights(reconstruction={"probe": 1.0, "probe_d": 1.0})
        _, terms = shared_latent_loss(model, batch, weights)
        assert set(terms) == {"contrastive/probe-probe_d", "recon/probe_d"}
        assert np.isfinite(float(terms["recon/probe_d"])) and float(terms["recon/probe_d"]) > 0
    finally:
        _forget("probe_d")


# --- generated, and generating ----------------------------------------------------------


@pytest.mark.slow
def test_it_is_generated_and_generates(probe, tmp_path):
    """Generation with a modality of yours that has a decoder: it is made from the
    others and they from it, `translate` writes it, judges measure it. One without a
    decoder (`probe`) is a source only."""
    import jax.random as jr

    from eqx_multimodal.training import GenerationConfig, generative_model, translate
    from eqx_multimodal.training._generation_eval import evaluate_generation

    em.register_modality(_with_decoder("probe_g", 8), replace=True)
    try:
        data = _data(24)
        labels = [str(int(x)) for x in data["image"][:, 0, 0, 0] > 0.5]
        data = {"image": data["image"], "probe_g": data["probe"], "probe": data["probe"]}
        folder = em.save_paired_folder(tmp_path / "data", data, labels=labels)
        dataset = em.PairedFolder(folder)
        config = TrainConfig(
            data=dataset.spec, steps=2, batch_size=8, latent_dim=8, d_model=16, warmup_steps=0,
            val_gallery=8, loss=LossWeights(reconstruction={}),
            generation=GenerationConfig(width=16, z_dim=4),
        )  # fmt: skip
        state, _ = fit(config, tmp_path / "run", data=dataset, progress=False)
        model = generative_model(state)
        assert set(model.generators.generators) == {"image", "probe_g"}  # probe: no decoder
        items = dataset.load()[:]
        made = translate(
            model, {"image": items["image"][:3]}, target="probe_g", key=jr.key(0), samples=2
        )
        assert made.shape == (3, 2, *SHAPE) and np.all(np.isfinite(made))
        back = translate(
            model, {"probe_g": items["probe_g"][:3], "probe": items["probe"][:3]},
            target="image", greedy=True,
        )  # fmt: skip
        assert back.shape == (3, 1, 4, 4, 1)
        with pytest.raises(ValueError, match="no generator makes 'probe'"):
            translate(model, {"image": items["image"][:3]}, target="probe", greedy=True)

        class OldDecoder(FlatDecoder):  # written to the contract before `temperature`
            def __call__(self, condition, *, key=None, greedy=False):
                return self.linear(condition).reshape(self.shape)

        em.register_modality(_with_decoder("probe_g", 8, OldDecoder), replace=True)
        with pytest.raises(TypeError, match="must take `temperature=` in its __call__") as error:
            em.nn.make_generators(dataset.spec, latent_dim=8, width=8, z_dim=2, key=jr.key(0))
        assert len(str(error.value).splitlines()) == 1
        em.register_modality(_with_decoder("probe_g", 8), replace=True)
        out = tmp_path / "made"
        argv = ["translate", "--checkpoint", str(tmp_path / "run"), "--data", str(folder)]
        argv += ["--from", "image", "--to", "probe_g", "--out", str(out), "--quiet"]
        assert run_cli([*argv, "--samples", "2", "--figure", str(tmp_path / "made.png")]) == 0
        assert (tmp_path / "made.png").stat().st_size > 0
        written = em.PairedFolder(out)
        assert "probe_g" in written.modalities and written.labels[::2] == dataset.labels
        result = evaluate_generation(
            model, items, dataset.labels, items, dataset.labels, dataset.spec,
            key=jr.key(1), samples=2, judge_steps=5,
        )  # fmt: skip
        assert {"image->probe_g", "probe->probe_g", "probe_g->image"} <= set(result["coherence"])
        for scores in result["coherence"].values():
            assert 0.0 <= scores["accuracy"] <= 1.0
    finally:
        _forget("probe_g")


# --- the synthetic data renders it -----------------------------------------------------------


def render_probe(latent, alignment, *, key, config):
    """The latent's first values in the probe's shape, mixed with noise by the alignment."""
    import jax.numpy as jnp
    import jax.random as jr

    shape = config.spec.shape("probe_r")
    return alignment * jnp.resize(latent, shape) + (1 - alignment) * jr.normal(key, shape)


@pytest.fixture
def rendered():
    modality = em.register_modality(_with_decoder("probe_r", 8), replace=True)
    modality = em.register_modality(
        em.Modality(**{**modality.__dict__, "render": render_probe}), replace=True
    )
    yield modality
    _forget("probe_r")


def test_the_synthetic_data_renders_it_by_its_render_function(rendered):
    import jax.numpy as jnp
    import jax.random as jr

    from eqx_multimodal.viz import alignment_sweep

    config = em.SyntheticConfig(["probe_r", "image"], image_shape=(4, 4, 1))
    assert config.modalities == ("image", "probe_r") and config.spec.shape("probe_r") == SHAPE
    batch = em.synthetic_batch(jnp.arange(3), key=jr.key(0), config=config)
    assert batch["probe_r"].shape == (3, *SHAPE)
    alone = em.synthetic_batch(jnp.arange(3), key=jr.key(0), config=config.replace(
        modalities=("image",)))  # fmt: skip
    np.testing.assert_array_equal(batch["image"], alone["image"])  # its own key
    clean = em.synthetic_batch(jnp.arange(3), key=jr.key(0), config=config.replace(alignment=1))
    np.testing.assert_allclose(clean["probe_r"], clean["latent"][:, :6].reshape(3, *SHAPE))
    assert not np.allclose(batch["probe_r"], clean["probe_r"])
    assert config.sample_bytes == 4 * (16 + 6 + 32 + 1)
    again = em.SyntheticConfig(**config.to_dict())
    assert again == config and config.to_dict()["shapes"] == {"probe_r": list(SHAPE)}
    sweep = alignment_sweep([0.0, 1.0], key=jr.key(1), config=config, num_samples=64)
    assert abs(sweep[0.0]["probe_r"]) < 0.2 and sweep[1.0]["probe_r"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(modalities=["image", "probe"]), "'probe' cannot be rendered .* render="),
        (dict(modalities=["image"], shapes={"probe_r": (2, 3)}), r"names \['probe_r'\], which"),
        (dict(modalities=["image"], shapes={"image": (2, 3, 1)}), "whose shape has its own"),
        (dict(modalities=["probe_r"], shapes={"probe_r": (2, 4)}), "does not fit"),
        (dict(modalities=["probe_r"], shapes=[1, 2]), "shapes"),
    ],
)
def test_the_synthetic_data_refuses_what_it_cannot_render(rendered, probe, arguments, message):
    with pytest.raises((ValueError, TypeError), match=message) as error:
        em.SyntheticConfig(**arguments)
    _one_line(error)


def test_a_shape_left_open_must_be_given(rendered):
    em.register_modality(
        em.Modality(**{**rendered.__dict__, "name": "probe_o", "shape": (None, 3)}), replace=True
    )
    try:
        with pytest.raises(ValueError, match="needs the item shape of modality 'probe_o'") as e:
            em.SyntheticConfig(["probe_o"])
        _one_line(e)
        assert em.SyntheticConfig(["probe_o"], shapes={"probe_o": (5, 3)}).spec.shape(
            "probe_o") == (5, 3)  # fmt: skip
    finally:
        _forget("probe_o")


def test_synthetic_data_of_yours_trains_evaluates_and_previews(rendered, tmp_path, capsys):
    """Synthetic data with a modality of yours: generic towers (the guide's know only
    theirs), trained, evaluated on a held-out gallery, saved and read back, previewed
    with a row of its own."""
    import jax.random as jr

    data = em.SyntheticConfig(["image", "probe_r"], image_shape=(4, 4, 1))
    config = TrainConfig(
        data=data, steps=2, batch_size=8, latent_dim=8, d_model=16, warmup_steps=0,
        val_gallery=8, loss=LossWeights(reconstruction={}),
    )  # fmt: skip
    assert config.towers == "generic"
    assert TrainConfig.from_json(config.to_json()) == config
    state, _ = fit(config, tmp_path / "run", progress=False)
    result = evaluate(state.model, data, gallery=16, key=jr.key(0))
    assert set(result["retrieval"]) == {"image->probe_r", "probe_r->image"}
    assert run_cli(["evaluate", "--checkpoint", str(tmp_path / "run"), "--gallery", "16"]) == 0
    assert "probe_r->image" in capsys.readouterr().out
    argv = ["preview", "--modalities", "image,probe_r", "--image-shape", "4,4,1"]
    assert run_cli([*argv, "--out", str(tmp_path / "p.png"), "--report", "--quiet"]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0


def render_open(latent, alignment, *, key, config):
    """As `render_probe`, in the shape `config` gives the open modality `probe_o`."""
    import jax.numpy as jnp
    import jax.random as jr

    shape = config.spec.shape("probe_o")
    return alignment * jnp.resize(latent, shape) + (1 - alignment) * jr.normal(key, shape)


@pytest.mark.slow  # 4 s (hypothesis's find, twice)
def test_the_strategies_draw_the_sizes_it_leaves_open(rendered):
    import jax.random as jr
    from hypothesis import find

    from eqx_multimodal import testing

    em.register_modality(
        em.Modality(**{**rendered.__dict__, "name": "probe_o", "shape": (None, 3),
                       "render": render_open}), replace=True,
    )  # fmt: skip
    try:
        strategy = testing.synthetic_configs(modalities=[("image", "probe_o")])
        for size in testing.FREE_SIZES:
            config = find(strategy, lambda c, size=size: c.spec.shape("probe_o")[0] == size)
            assert config.modalities == ("image", "probe_o")
            item = em.synthetic_item(0, key=jr.key(0), config=config)
            assert item["probe_o"].shape == (size, 3)
    finally:
        _forget("probe_o")


def probe_loss(output, item):
    """The absolute error: a loss of a modality's own."""
    return jnp.mean(jnp.abs(output - item))


def test_a_modality_s_own_loss_is_its_reconstruction_loss(probe):
    # `Modality.loss` is what `reconstruction_loss` asks (the built-ins register theirs
    # the same way); without one, the MSE of real values.
    from eqx_multimodal.losses import pixel_loss, reconstruction_loss

    output, item = jnp.full(SHAPE, 3.0), jnp.ones(SHAPE)
    assert float(reconstruction_loss("probe", output, item)) == pytest.approx(4.0)
    em.register_modality(_probe(loss=probe_loss), replace=True)
    try:
        assert float(reconstruction_loss("probe", output, item)) == pytest.approx(2.0)
    finally:
        em.register_modality(probe, replace=True)
    assert em.get_modality("image").loss is pixel_loss
    with pytest.raises(TypeError, match="loss"):  # the dataclass's own check, or the
        _probe(loss="mae")  # type checker's under the test suite's import hook


def test_the_default_reconstruction_weighs_every_modality():
    # `LossWeights()`: 0.1 for every modality of the data, a fourth one too.
    weights = LossWeights()
    assert weights.reconstruction == 0.1
    assert weights.reconstruction_weight("image") == weights.reconstruction_weight("probe") == 0.1
    assert LossWeights(**weights.to_dict()) == weights
    named = LossWeights(reconstruction={"image": 0.5})
    assert named.reconstruction_weight("image") == 0.5 and named.reconstruction_weight("audio") == 0
    assert LossWeights(**named.to_dict()) == named
    with pytest.raises(ValueError, match="reconstruction"):
        LossWeights(reconstruction=-1.0)


def test_the_spec_fields_of_a_modality_are_its_registration_s(probe):
    # DataSpec keeps the built-ins' facts in fields of their own because their
    # registrations say so (Modality.spec_fields); another modality's shape is in
    # `shapes`, and a registration naming no field of DataSpec is refused in one line.
    assert em.get_modality("audio").spec_fields.item_shape(
        em.DataSpec(["audio"], num_audio_samples=40, sample_rate=8000)
    ) == (40,)
    spec = em.DataSpec(["image", "probe"], image_shape=(4, 4, 1), shapes={"probe": SHAPE})
    assert spec.shape("image") == (4, 4, 1) and spec.shape("probe") == SHAPE
    odd = em.modalities.SpecFields("depth_shape")
    em.register_modality(_probe(spec_fields=odd), replace=True)
    try:
        with pytest.raises(ValueError) as error:
            em.DataSpec(["probe"], shapes={"probe": SHAPE})
        assert "'depth_shape', which is no field of DataSpec" in _one_line(error)
        assert em.DataSpec(["image"], image_shape=(4, 4, 1)).shape("image") == (4, 4, 1)
        # a field is one modality's: a second claim is refused
        with pytest.raises(ValueError) as error:
            em.register_modality(
                _probe(spec_fields=em.modalities.SpecFields("image_shape")), replace=True
            )
        assert "claim ['image_shape'], which are modality 'image''s" in _one_line(error)
    finally:
        em.register_modality(probe, replace=True)
    with pytest.raises(TypeError, match="spec_fields"):
        _probe(spec_fields="image_shape")

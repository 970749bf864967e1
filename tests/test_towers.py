"""Tower families are values registered through one door (`nn.register_towers`): a
family of yours, from this file, builds a model's encoders and decoders, trains through
`fit`, is named by the command line, and refuses what it cannot serve in one line; the
guide's two are registrations the core loads on the first lookup; a modality's own
`generate` decoder is what a generator makes it with."""

import subprocess
import sys

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal import nn
from eqx_multimodal.data import as_spec, DataSpec
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.nn._towers import _forget
from eqx_multimodal.training import fit, TrainConfig

from .helpers import run_cli


SPEC = DataSpec(
    modalities=("image", "audio"), image_shape=(4, 4, 1), sample_rate=1000, num_audio_samples=64
)


def flat_encoder(modality, data, d_model, *, key):
    return nn.MLPEncoder(as_spec(data).shape(modality), 8, d_model, modality=modality, key=key)


def flat_decoder(modality, data, d_in, *, key):
    spec = as_spec(data)
    if modality == "image":
        return nn.ImageDecoder(d_in, spec.image_shape, hidden=8, key=key)
    return nn.AudioDecoder(d_in, spec.num_audio_samples, hidden=8, key=key)


def small_latents_only(config):
    if config.latent_dim > 16:
        raise ValueError(f"`towers` 'flat' take latent_dim <= 16, got {config.latent_dim}")


@pytest.fixture
def flat():
    family = nn.TowerFamily(
        "flat",
        encoder=flat_encoder,
        decoder=flat_decoder,
        modalities=("image", "audio"),
        normalized=False,
        check=small_latents_only,
    )
    yield nn.register_towers(family)
    _forget("flat")


def _one_line(error):
    text = str(error.value)
    assert len(text.splitlines()) == 1, text
    return text


def _data(n):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n)
    image = 0.1 * rng.uniform(size=(n, 4, 4, 1)) + 0.8 * labels[:, None, None, None]
    audio = 0.1 * rng.normal(size=(n, 64)) + 0.5 * labels[:, None] - 0.25
    return em.PairedDataset({"image": image, "audio": audio}, sample_rate=1000)


def test_a_family_of_yours_builds_and_trains_the_model(flat, tmp_path):
    assert "flat" in nn.tower_names() and nn.get_towers("flat") is flat
    model = nn.SharedLatentModel(SPEC, towers="flat", latent_dim=4, d_model=8, key=jr.key(0))
    assert {type(e).__name__ for e in model.encoders.values()} == {"MLPEncoder"}
    assert {type(d).__name__ for d in model.decoders.values()} == {"ImageDecoder", "AudioDecoder"}
    # the family says its latents are not normalised
    assert model.normalized is False
    assert float(jnp.sum(model.embed("audio", jnp.ones(64)) ** 2)) != pytest.approx(1.0)
    data = _data(16)
    config = TrainConfig(
        data=data.spec, towers="flat", steps=2, batch_size=8, latent_dim=4, d_model=8,
        eval_every=2, checkpoint_every=100, val_gallery=8, loss=LossWeights(reconstruction={}),
    )  # fmt: skip
    state, _ = fit(config, tmp_path / "run", data=data, validation=data, progress=False)
    assert state.model.towers == "flat" and state.step == 2
    assert {type(e).__name__ for e in state.model.encoders.values()} == {"MLPEncoder"}


def test_a_family_refuses_what_it_cannot_serve(flat):
    with pytest.raises(ValueError) as error:
        TrainConfig(data=SPEC, towers="flat", latent_dim=32)
    assert _one_line(error) == "`towers` 'flat' take latent_dim <= 16, got 32"
    spec = DataSpec(modalities=("image", "text"), image_shape=(4, 4, 1), vocab_size=9, seq_length=3)
    with pytest.raises(ValueError) as error:
        nn.make_encoder("text", spec, 8, towers="flat", key=jr.key(0))
    assert "modality 'text' has only its registered towers" in _one_line(error)


def test_names_are_checked_and_taken_once(flat):
    with pytest.raises(nn.UnknownTowersError) as error:
        nn.SharedLatentModel(SPEC, towers="nope", key=jr.key(0))
    assert _one_line(error).startswith(f"`towers` must be one of {nn.tower_names()}, got 'nope'")
    for fields, kind in [
        (dict(modalities=()), ValueError),
        (dict(modalities="image"), TypeError),
        (dict(normalized="no"), TypeError),
    ]:
        with pytest.raises(kind):
            nn.TowerFamily("flat2", encoder=flat_encoder, **fields)
    with pytest.raises(ValueError, match="'flat' is already registered"):
        nn.register_towers(nn.TowerFamily("flat", encoder=flat_encoder))
    with pytest.raises(ValueError, match="'sets' is already registered"):
        nn.register_towers(nn.TowerFamily("sets", encoder=flat_encoder))
    with pytest.raises(ValueError, match="lower-case letters"):
        nn.TowerFamily("Flat", encoder=flat_encoder)
    with pytest.raises(TypeError):  # (the suite's type-checking hook may say it first)
        nn.TowerFamily("flat2", encoder=flat_encoder, decoder=3)
    # a family without decoders builds a model without any
    bare = nn.register_towers(nn.TowerFamily("bare", encoder=flat_encoder), replace=True)
    try:
        model = nn.SharedLatentModel(SPEC, towers=bare.name, latent_dim=4, d_model=8,
                                     key=jr.key(0))  # fmt: skip
        assert model.decoders == {}
        with pytest.raises(ValueError, match="'bare' build no decoders"):
            nn.make_decoder("image", SPEC, 4, towers="bare", key=jr.key(0))
    finally:
        _forget("bare")


def test_the_command_line_takes_a_family_of_yours(tmp_path, capsys):
    module = tmp_path / "my_towers.py"
    module.write_text(
        "from eqx_multimodal import nn\n"
        "from eqx_multimodal.data import as_spec\n"
        "def encoder(m, data, d, *, key):\n"
        "    return nn.MLPEncoder(as_spec(data).shape(m), 8, d, modality=m, key=key)\n"
        "nn.register_towers(nn.TowerFamily('my_flat', encoder=encoder), replace=True)\n"
    )
    out = tmp_path / "run"
    try:
        argv = ["train", "--import", str(module), "--towers", "my_flat", "--modalities",
                "image,audio", "--steps", "1", "--batch-size", "4", "--image-shape", "8,8,1",
                "--sample-rate", "4000", "--duration", "0.25", "--val-gallery", "8",
                "--no-report", "--out", str(out)]  # fmt: skip
        assert run_cli([*argv, "--quiet"]) == 0, capsys.readouterr().err
    finally:
        _forget("my_flat")
    assert '"towers": "my_flat"' in (out / "config.json").read_text()
    # the run, without the module that registers its towers: a one-line error saying so
    assert run_cli(["evaluate", "--checkpoint", str(out), "--gallery", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "got 'my_flat'" in err and "--import MODULE" in err and len(err.splitlines()) == 1
    assert run_cli(["train", "--towers", "nope", "--steps", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--towers" in err and "got 'nope'" in err and len(err.splitlines()) == 1


def test_the_guide_s_families_are_loaded_on_the_first_lookup():
    code = (
        "import sys\n"
        "from eqx_multimodal import nn\n"
        "before = [m for m in sys.modules if m.startswith('eqx_multimodal.guide')]\n"
        "names = nn.tower_names()\n"
        "print(before, names, 'eqx_multimodal.guide.towers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]", "('generic',", "'guide',", "'sets')", "True"]
    assert nn.get_towers("sets").normalized is False and nn.get_towers("guide").normalized


def test_a_first_lookup_beside_an_import_of_the_guide_finishes():
    # One thread looks a family up while another imports the guide, whose registrations
    # call back into the registry: neither waits on the other.
    code = (
        "import importlib, threading\n"
        "from eqx_multimodal import nn\n"
        "done = []\n"
        "def look(): done.append(nn.tower_names())\n"
        "def load(): importlib.import_module('eqx_multimodal.guide'); done.append('guide')\n"
        "threads = [threading.Thread(target=f, daemon=True) for f in (load, look)]\n"
        "[t.start() for t in threads]\n"
        "[t.join(120) for t in threads]\n"
        "print(sorted(map(str, done)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[\"('generic', 'guide', 'sets')\", 'guide']"


def test_a_modality_s_generate_decoder_makes_it(tmp_path):
    spec = DataSpec(modalities=("image", "audio"), image_shape=(4, 4, 1), sample_rate=1000,
                    num_audio_samples=64)  # fmt: skip
    generators = nn.make_generators(spec, latent_dim=4, width=8, z_dim=2, key=jr.key(0))
    # the built-in audio's own `generate`, whatever the towers; the image's, its towers'
    assert type(generators.generator("audio").decoder).__name__ == "SpectrogramDecoder"
    assert type(generators.generator("image").decoder).__name__ == "ImageDecoder"
    audio = em.get_modality("audio")
    em.register_modality(
        em.Modality(**{**audio.__dict__, "generate": lambda spec, d_in, *, key: "nope"}),
        replace=True,
    )
    try:
        with pytest.raises(TypeError) as error:
            nn.make_generators(spec, latent_dim=4, width=8, z_dim=2, key=jr.key(0))
        assert "`generate` factory of modality 'audio' must return an AbstractDecoder" in (
            _one_line(error)
        )
    finally:
        em.register_modality(audio, replace=True)


def test_a_family_declares_its_re_ranker():
    # The command line asks the run's family for its re-ranker instead of naming towers:
    # the guide's "sets" re-rank image <-> audio, the generic towers nothing.
    from eqx_multimodal.guide import SetReranker

    sets = nn.get_towers("sets")
    assert sets.reranker is not None
    assert isinstance(sets.reranker(("image", "text", "audio")), SetReranker)
    assert sets.reranker(("image", "text")) is None
    assert nn.get_towers("generic").reranker is None
    with pytest.raises(TypeError, match="reranker"):
        nn.TowerFamily("mine_rerank", encoder=flat_encoder, reranker="verifier")

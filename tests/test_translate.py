"""`translate`: generation with a trained run, from the API and the command line."""

import json

import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.training import (
    fit,
    GenerationConfig,
    generative_model,
    load_run,
    TrainConfig,
    translate,
)

from .helpers import run_cli
from .test_own_data import labelled_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return labelled_folder(tmp_path_factory.mktemp("translate") / "data", n=40)


def _run(folder, out, generation):
    dataset = em.PairedFolder(folder)
    config = TrainConfig(
        data=dataset.spec,
        steps=2,
        batch_size=8,
        latent_dim=8,
        d_model=16,
        warmup_steps=0,
        val_gallery=8,
        generation=generation,
    )
    fit(config, out, data=dataset, progress=False)
    return out


@pytest.fixture(scope="module")
def run(folder, tmp_path_factory):
    generation = GenerationConfig(width=16, z_dim=4, fusion="gated")
    return _run(folder, tmp_path_factory.mktemp("run") / "run", generation)


@pytest.fixture(scope="module")
def model(run):
    return generative_model(load_run(run)[1])


@pytest.mark.slow
def test_translate_shapes_seeds_and_samples(model, folder):
    items = em.PairedFolder(folder).load()[:]
    sources = {"audio": items["audio"][:5], "text": items["text"][:5]}
    made = translate(model, sources, target="image", key=jr.key(0), samples=3)
    assert made.shape == (5, 3, 8, 8, 1) and made.dtype == np.float32
    assert np.all((made >= 0) & (made <= 1))
    again = translate(model, sources, target="image", key=jr.key(0), samples=3, chunk=2)
    np.testing.assert_allclose(made, again, atol=1e-6)  # the chunking changes nothing
    assert np.max(np.abs(made[:, 0] - made[:, 1])) > 1e-4  # samples differ
    other = translate(model, sources, target="image", key=jr.key(1), samples=3)
    assert np.max(np.abs(made - other)) > 1e-4
    greedy = translate(model, sources, target="image", samples=2, greedy=True)
    np.testing.assert_array_equal(greedy[:, 0], greedy[:, 1])
    text = translate(model, {"image": items["image"][:2]}, target="text", key=jr.key(0))
    assert text.shape == (2, 1, em.PairedFolder(folder).spec.seq_length)
    assert text.dtype == np.int32
    # Towards temperature 0, a sample is the greedy output: z near the prior's mean,
    # the most likely tokens.
    cool = translate(model, sources, target="image", key=jr.key(0), samples=2, temperature=1e-5)
    np.testing.assert_allclose(cool, greedy, atol=1e-4)
    assert np.max(np.abs(cool[:, 0] - made[:, 0])) > 1e-4
    images = {"image": items["image"][:5]}
    cool_text = translate(model, images, target="text", key=jr.key(0), temperature=1e-5)
    np.testing.assert_array_equal(cool_text, translate(model, images, target="text", greedy=True))
    with pytest.raises(ValueError, match="temperature"):
        translate(model, sources, target="image", key=jr.key(0), temperature=0.0)
    with pytest.raises(ValueError, match="also a source"):
        translate(model, {"image": items["image"][:2]}, target="image", key=jr.key(0))
    with pytest.raises(ValueError, match="key"):
        translate(model, {"image": items["image"][:2]}, target="text")


@pytest.mark.slow
def test_translate_writes_a_paired_folder(run, folder, tmp_path):
    out = tmp_path / "made"
    argv = ["translate", "--checkpoint", str(run), "--data", str(folder), "--from", "audio,text"]
    argv += ["--to", "image", "--samples", "2", "--seed", "3", "--quiet"]
    figure = tmp_path / "figure.png"
    assert run_cli([*argv, "--out", str(out), "--figure", str(figure)]) == 0
    assert figure.stat().st_size > 0
    made = em.PairedFolder(out)
    source = em.PairedFolder(folder)
    assert made.modalities == ("image", "text", "audio")
    assert made.spec.image_shape == source.spec.image_shape
    assert made.sample_rate == source.sample_rate
    assert len(made) == 2 * len(source)
    assert made.ids[:2] == (f"{source.ids[0]}-s0", f"{source.ids[0]}-s1")
    assert list(made.labels[::2]) == list(source.labels)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["translated"]["from"] == ["audio", "text"]
    assert manifest["translated"]["fusion"] == "gated"
    images = made.load()[:]["image"]
    assert np.max(np.abs(images[0] - images[1])) > 0  # two samples of one source
    # The same seed makes the same folder; another seed another one.
    again = tmp_path / "again"
    assert run_cli([*argv, "--out", str(again)]) == 0
    np.testing.assert_array_equal(em.PairedFolder(again).load()[:]["image"], images)
    assert run_cli([*argv, "--out", str(out)]) == 2  # exists
    argv[argv.index("--seed") + 1] = "4"
    assert run_cli([*argv, "--out", str(out), "--overwrite"]) == 0
    assert np.max(np.abs(em.PairedFolder(out).load()[:]["image"] - images)) > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, message",
    [
        (["--from", ""], "--from must name at least one modality"),
        (["--from", "audio,audio"], "more than once"),
        (["--from", "sonar"], "unknown modality 'sonar'"),
        (["--to", "audio"], "also in --from"),
        (["--samples", "0"], "samples"),
        (["--temperature", "0"], "temperature"),
        (["--temperature", "inf"], "temperature"),
        (["--out", "EXISTS"], "exists and is not empty"),
        (["--data", "IMAGE_ONLY"], "has no 'audio'"),
        (["--checkpoint", "PLAIN"], "no generators"),
    ],
)
def test_refusals_are_one_line_errors(change, message, run, folder, tmp_path, capsys):
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "file").write_text("x")
    args = {
        "--checkpoint": str(run),
        "--data": str(folder),
        "--from": "audio",
        "--to": "image",
        "--out": str(tmp_path / "out"),
    }
    flag, value = change
    if value == "EXISTS":
        value = str(tmp_path / "exists")
    if value == "IMAGE_ONLY":
        only = {"image": np.zeros((4, 8, 8, 1)), "text": np.zeros((4, 3), np.int32)}
        value = str(em.save_paired_folder(tmp_path / "only", only))
    if value == "PLAIN":
        value = str(_plain_run(folder, tmp_path))
    args[flag] = value
    argv = ["translate", *[x for pair in args.items() for x in pair], "--quiet"]
    capsys.readouterr()
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def _plain_run(folder, tmp_path):
    return _run(folder, tmp_path / "plain", None)


def test_directions_are_every_target_from_every_one_and_two_source_subset():
    from eqx_multimodal.training._generation_eval import direction_name, directions

    names = {direction_name(s, t) for s, t in directions(("image", "text", "audio"))}
    assert names == {
        "text->image", "audio->image", "text+audio->image",
        "image->text", "audio->text", "image+audio->text",
        "image->audio", "text->audio", "image+text->audio",
    }  # fmt: skip
    assert len(directions(("image", "text", "audio", "depth"))) == 4 * (3 + 3)


@pytest.mark.slow
def test_generation_measures_judge_only_real_train_items(model, folder, monkeypatch):
    from eqx_multimodal.training import _generation_eval

    items = em.PairedFolder(folder).load()[:]
    labels = list(em.PairedFolder(folder).labels)
    # Two of the run's three modalities (two directions: every one is measured alike).
    train = {m: items[m][:24] for m in ("image", "text")}
    test = {m: items[m][24:] for m in ("image", "text")}
    seen = []
    real_train_judge = _generation_eval.train_judge

    def recording(modality, judged, *args, **kwargs):
        seen.append((modality, np.asarray(judged)))
        return real_train_judge(modality, judged, *args, **{**kwargs, "steps": 5})

    monkeypatch.setattr(_generation_eval, "train_judge", recording)
    result = _generation_eval.evaluate_generation(
        model,
        test,
        labels[24:],
        train,
        labels[:24],
        em.PairedFolder(folder).spec,
        key=jr.key(0),
        samples=2,
    )
    assert sorted(m for m, _ in seen) == ["image", "text"]
    for modality, judged in seen:
        np.testing.assert_array_equal(judged, train[modality])  # real train items only
    assert set(result["coherence"]) == {"text->image", "image->text"}
    for values in result["coherence"].values():
        assert set(values) == {"accuracy", "greedy_accuracy", "judge_on_real"}
        assert all(0.0 <= v <= 1.0 for v in values.values())
    assert set(result["fidelity"]) == set(result["diversity"]) == {"image", "text"}
    assert result["diversity"]["image"]["diversity"] > 0.0

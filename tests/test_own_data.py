"""Your own data: captions and labels, transforms, splits, streaming, training,
evaluation and embeddings on a paired folder, from the API and the command line."""

import json
import shutil
import wave

import equinox as eqx
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

import eqx_multimodal as em
from eqx_multimodal.data import BatchStream, split_indices
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.training import evaluate, fit, TrainConfig

from .helpers import run_cli, tree_equal


WORDS = ("zero", "one", "two", "three")
RATE = 4000


def class_samples(n, *, seed=0, length=400):
    """`n` samples of 4 classes: a bright quadrant, a tone and a caption of the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = 0.2 * rng.uniform(size=(n, 8, 8, 1))
    t = np.arange(length) / RATE
    audio = 0.1 * rng.normal(size=(n, length))
    captions = []
    for i, c in enumerate(labels):
        images[i, 4 * (c // 2) : 4 * (c // 2) + 4, 4 * (c % 2) : 4 * (c % 2) + 4] += 0.7
        audio[i] += 0.6 * np.sin(2 * np.pi * (300 + 400 * c) * t + rng.uniform(0, 6))
        captions.append(rng.choice([f"{c}", f"a {WORDS[c]}", f"the number {WORDS[c]}"]))
    return {
        "image": np.clip(images, 0, 1),
        "audio": np.clip(audio, -1, 1),
        "text": np.asarray(captions),
    }, [str(c) for c in labels]


def labelled_folder(path, n=60, **kwargs):
    data, labels = class_samples(n, **kwargs)
    return em.save_paired_folder(path, data, sample_rate=RATE, labels=labels)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return labelled_folder(tmp_path_factory.mktemp("own") / "data", n=80)


# --- data --------------------------------------------------------------------------------


def test_captions_become_ids_and_match_token_lines(folder, tmp_path):
    captions = em.PairedFolder(folder)
    assert captions.tokenizer is not None and captions.label_names == ("0", "1", "2", "3")
    lines = [json.loads(line) for line in (folder / "text.jsonl").read_text().splitlines()]
    longest = max(len(line["text"]) for line in lines)
    assert captions.spec.seq_length == longest + 2  # the whole caption, and its marks
    # The same texts as token lines: the model reads the same ids.
    tokens = shutil.copytree(folder, tmp_path / "tokens")
    with open(tokens / "text.jsonl", "w") as f:
        for line in lines:
            ids, _ = captions.tokenizer.encode(line["text"])
            f.write(json.dumps({"id": line["id"], "tokens": ids.tolist()}) + "\n")
    as_tokens = em.PairedFolder(tokens)
    for i in (0, 7, 79):
        np.testing.assert_array_equal(captions.read(i)["text"], as_tokens.read(i)["text"])
    # A tokenizer too short cuts and counts.
    short = em.PairedFolder(folder, tokenizer=em.ByteTokenizer(4))
    assert short.counts()["truncated captions"] == sum(len(x["text"]) > 2 for x in lines)


@given(
    ids=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=60, unique=True),
    more=st.lists(st.text(min_size=1, max_size=8), max_size=20, unique=True),
    seed=st.integers(0, 2**63),
)
def test_splits_depend_only_on_the_id_and_the_seed(ids, more, seed):
    splits = split_indices(ids, seed=seed)
    names = {name: {ids[i] for i in rows} for name, rows in splits.items()}
    assert set().union(*names.values()) == set(ids)
    assert sum(len(v) for v in names.values()) == len(ids)  # no id in two splits
    grown = ids + [x for x in more if x not in ids]
    again = split_indices(grown, seed=seed)
    for name, rows in again.items():
        assert names[name] <= {grown[i] for i in rows}  # adding samples moves none


def test_images_audio_and_rates_are_transformed_when_asked(tmp_path):
    data, labels = class_samples(6)
    data["image"] = np.repeat(data["image"], 2, axis=1)[:, :, :8]  # 16x8 images
    path = em.save_paired_folder(tmp_path / "f", data, sample_rate=RATE, labels=labels)
    with pytest.raises(ValueError, match=r"image/000000.png: 16x8 .* \(pass resize=True"):
        em.PairedFolder(path, image_shape=(8, 8, 1))
    resized = em.PairedFolder(path, image_shape=(8, 8, 3), resize=True, audio_seconds=0.05)
    sample = resized.read(0)
    assert sample["image"].shape == (8, 8, 3) and sample["audio"].shape == (200,)
    centre = resized.read(0)["audio"]
    windows = {resized.read(0, rng=np.random.default_rng(s))["audio"].tobytes() for s in range(5)}
    assert len(windows) > 1 and centre.tobytes() not in windows - {centre.tobytes()}
    with pytest.raises(ValueError, match="sample rate 4000 Hz, expected 8000 Hz"):
        em.PairedFolder(path, sample_rate=8000)
    upsampled = em.PairedFolder(path, sample_rate=8000, resample=True)
    assert upsampled.read(0)["audio"].shape == (800,)
    assert upsampled.options()["resample"] is True


def test_samples_may_lack_modalities_when_allowed(folder, tmp_path):
    partial = shutil.copytree(folder, tmp_path / "partial")
    manifest = json.loads((partial / "manifest.json").read_text())
    for record in manifest["samples"][:10]:
        (partial / record.pop("audio")).unlink()
    (partial / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"samples\[0\] \(id '000000'\) names no audio file"):
        em.PairedFolder(partial)
    loaded = em.PairedFolder(partial, allow_missing=True)
    assert loaded.counts()["audio"] == 70 and loaded.counts()["image"] == 80
    dataset = loaded.load()
    assert not dataset.complete and int(dataset.present["audio"].sum()) == 70
    assert bool(dataset[0]["present"]["audio"]) is False


def test_a_folder_streams_the_batches_memory_holds(folder):
    on_disk = em.PairedFolder(folder)
    in_memory = on_disk.load()
    from_disk, from_memory = BatchStream(on_disk, 16, seed=3), BatchStream(in_memory, 16, seed=3)
    assert from_disk.steps_per_epoch == 5
    for step, batch in enumerate(from_disk.batches(3, 8)):  # across the end of epoch 0
        expected = from_memory.batch(3 + step)
        for name in ("image", "text", "audio", "label"):
            np.testing.assert_array_equal(batch[name], expected[name])
    rows = np.concatenate([from_disk.rows(s) for s in range(5)])
    assert sorted(rows.tolist()) == list(range(80))  # an epoch is a permutation


# --- training ----------------------------------------------------------------------------


def small(spec, **changes):
    fields = dict(
        data=spec, steps=12, batch_size=16, latent_dim=16, d_model=32, log_every=4,
        eval_every=6, checkpoint_every=100, val_gallery=20, loss=LossWeights(reconstruction={}),
    )  # fmt: skip
    return TrainConfig(**{**fields, **changes})


@pytest.mark.slow
def test_fit_on_a_folder_resumes_mid_epoch_exactly(folder, tmp_path):
    train = em.PairedFolder(folder, audio_seconds=0.08)  # random windows of 320 of 400
    config = small(train.spec)
    straight, history = fit(config, tmp_path / "a", data=train, validation=train, progress=False)
    fit(config, tmp_path / "b", data=train, until=7, progress=False)  # epoch 1, batch 2
    index = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert index["data"] == {"step": 7, "epoch": 1, "batch": 2}
    resumed, _ = fit(config, tmp_path / "b", data=train, resume=True, progress=False)
    assert tree_equal(eqx.filter(straight, eqx.is_array), eqx.filter(resumed, eqx.is_array))
    record = json.loads((tmp_path / "a" / "data.json").read_text())
    assert record["samples"] == 80 and record["label_names"] == ["0", "1", "2", "3"]
    assert record["options"]["audio_length"] == 320
    other = labelled_folder(tmp_path / "other", n=80, seed=1)
    with pytest.raises(ValueError, match="cannot resume: the dataset differs"):
        fit(config, tmp_path / "b", data=em.PairedFolder(other, audio_seconds=0.08), resume=True)
    with pytest.raises(ValueError, match="the dataset's shapes .* differ from the config's"):
        fit(config, tmp_path / "c", data=em.PairedFolder(folder), progress=False)


@pytest.mark.slow
def test_learning_needs_true_pairs(tmp_path):
    # Alignment 1 and the guide's towers learn in a few dozen steps; shuffling the audio
    # among the samples leaves nothing to learn.
    config = em.SyntheticConfig(
        modalities=["image", "audio"], image_shape=(16, 16, 1), sample_rate=4000,
        duration=0.25, alignment=1.0,
    )  # fmt: skip
    held_out = em.SyntheticDataset(config, 200, key=jr_key(9)).materialise()[:]
    test = em.PairedDataset(
        {"image": held_out["image"], "audio": held_out["audio"]}, sample_rate=4000
    )
    results = {}
    for shuffled in (False, True):
        train = em.SyntheticDataset(config, 512, key=jr_key(1)).materialise()[:]
        audio = np.asarray(train["audio"])
        if shuffled:
            audio = audio[np.random.default_rng(0).permutation(len(audio))]
        path = em.save_paired_folder(
            tmp_path / f"train{shuffled}", {"image": train["image"], "audio": audio},
            sample_rate=4000,
        )  # fmt: skip
        data = em.PairedFolder(path)
        run = small(data.spec, towers="guide", steps=100, batch_size=64, learning_rate=5e-3)
        state, _ = fit(run, tmp_path / f"run{shuffled}", data=data, progress=False)
        results[shuffled] = evaluate(state.model, test)["retrieval"]["image->audio"]
    assert results[False]["recall@10"] > 0.2, results  # chance 0.05
    assert results[True]["recall@10"] < 0.12, results


def jr_key(seed):
    import jax.random as jr

    return jr.key(seed)


# --- the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    argv = [
        "train",
        "--data",
        str(folder),
        "--steps",
        "20",
        "--batch-size",
        "16",
        "--val-gallery",
        "8",
    ]
    assert run_cli([*argv, "--out", str(out), "--no-report", "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_train_evaluate_and_embed_a_folder(run, folder, tmp_path, capsys):
    result = json.loads((run / "evaluation.json").read_text())
    assert result["data"]["split"] == "validation" and result["checkpoint_step"] == 20
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--checkpoint", str(run), "--data", str(folder), "--split", "test"]
    assert run_cli([*argv, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "zero-shot accuracy from the label names" in printed
    result = json.loads(out.read_text())
    pairs = {f"{a}->{b}" for a in ("image", "text", "audio") for b in ("image", "text", "audio")}
    pairs -= {"image->image", "text->text", "audio->audio"}
    assert set(result["retrieval"]) == set(result["label_retrieval"]) == pairs
    assert set(result["zero_shot"]) == {"image", "audio"}
    assert result["checkpoint"]["step"] == 20 and result["data"]["split"] == "test"
    test_ids = set(split_indices(em.PairedFolder(folder).ids)["test"].tolist())
    assert result["gallery"] == len(test_ids)
    embeddings = tmp_path / "embeddings.npz"
    argv = ["embed", "--checkpoint", str(run), "--data", str(folder), "--out", str(embeddings)]
    assert run_cli([*argv, "--quiet"]) == 0
    arrays = np.load(embeddings)
    assert arrays["ids"].tolist() == list(em.PairedFolder(folder).ids)
    assert arrays["image"].shape == arrays["audio"].shape == (80, 128)
    np.testing.assert_allclose(np.linalg.norm(arrays["text"], axis=1), 1.0, atol=1e-4)
    assert sorted(set(arrays["labels"].tolist())) == ["0", "1", "2", "3"]


def _write_wave(path, values, rate):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.asarray(values, "<i2").tobytes())


@pytest.mark.parametrize(
    "break_it,message",
    [
        (lambda f: (f / "image" / "000003.png").unlink(), "image/000003.png: cannot read"),
        (
            lambda f: _write_wave(f / "audio" / "000004.wav", np.zeros(400), 8000),
            "audio/000004.wav: sample rate 8000 Hz, expected 4000 Hz",
        ),
        (
            lambda f: (f / "image" / "000005.png").write_bytes(b"no image"),
            "image/000005.png: cannot read it as an image",
        ),
    ],
)
def test_bad_folders_are_one_line_errors(break_it, message, folder, tmp_path, capsys):
    broken = shutil.copytree(folder, tmp_path / "broken")
    break_it(broken)
    argv = ["train", "--data", str(broken), "--out", str(tmp_path / "run"), "--no-report"]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "--data" in err


@pytest.mark.slow  # its fixture trains a run (16 s): the inner loop leaves it
def test_a_folder_too_small_to_split_and_a_run_of_other_shapes(run, tmp_path, capsys):
    tiny = labelled_folder(tmp_path / "tiny", n=3)
    assert run_cli(["train", "--data", str(tiny), "--out", str(tmp_path / "r"), "--no-report"]) == 2
    assert "split is empty (3 samples)" in capsys.readouterr().err
    other = em.save_paired_folder(
        tmp_path / "other", {"image": np.zeros((4, 4, 4, 1)), "text": np.ones((4, 5), int)}
    )
    assert run_cli(["evaluate", "--checkpoint", str(run), "--data", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--data" in err and "expected 8x8 with 1 channel(s)" in err
    assert len(err.splitlines()) == 1

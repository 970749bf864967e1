"""Nothing lost, nothing read from outside a folder, nothing silent: what a new user's
bad inputs and interruptions must (and must not) do."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.nn import AttentionFusion
from eqx_multimodal.training import (
    CheckpointError,
    fit,
    load_checkpoint,
    load_run,
    TrainConfig,
    TrainingDiverged,
)

from .helpers import run_cli, tree_equal


TINY = em.SyntheticConfig(
    modalities=["image", "text"], image_shape=(8, 8, 1), vocab_size=20, seq_length=6
)
# The first round's towers, which compile fastest: these tests are about the run's folder.
TINY_ARGS = [
    "--towers",
    "guide",
    "--modalities",
    "image,text",
    "--image-shape",
    "8,8,1",
    "--vocab-size",
    "20",
    "--seq-length",
    "6",
    "--batch-size",
    "8",
    "--gallery",
    "16",
    "--no-report",
    "--quiet",
]


def tiny(**changes):
    fields = dict(
        data=TINY,
        towers="guide",
        steps=6,
        batch_size=8,
        latent_dim=8,
        d_model=16,
        log_every=1,
        eval_every=3,
        checkpoint_every=100,
        val_gallery=16,
        loss=LossWeights(recon_batch=4),
    )
    return TrainConfig(**{**fields, **changes})


def state_of(run):
    return eqx.filter(load_run(run)[1], eqx.is_array)


def one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# --- data loss -------------------------------------------------------------------------


@pytest.mark.slow
def test_train_refuses_a_run_folder_in_use(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", "--steps", "2", "--out", str(out), *TINY_ARGS]) == 0
    before = (out / "config.json").read_text()
    (out / "notes.txt").write_text("mine")
    assert run_cli(["train", "--steps", "3", "--out", str(out), *TINY_ARGS]) == 2
    err = one_line(capsys)
    assert "--resume" in err and "--overwrite" in err
    assert (out / "config.json").read_text() == before
    # --overwrite replaces the run's files and nothing else.
    assert run_cli(["train", "--steps", "3", "--out", str(out), "--overwrite", *TINY_ARGS]) == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 3
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_interrupted_runs_checkpoint_and_resume_exactly(tmp_path):
    config = tiny()
    straight, history = fit(config, tmp_path / "straight", progress=False)

    # Ctrl-C after step 4: the state of step 4 is saved before the interrupt propagates.
    def interrupt(row):
        if row["step"] == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, tmp_path / "stopped", progress=False, on_log=interrupt)
    assert json.loads((tmp_path / "stopped" / "checkpoint.json").read_text())["latest"]["step"] == 4
    resumed, resumed_history = fit(config, tmp_path / "stopped", resume=True, progress=False)
    assert tree_equal(eqx.filter(resumed, eqx.is_array), eqx.filter(straight, eqx.is_array))
    untimed = [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in history]
    assert [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in resumed_history] == (
        untimed
    )

    # A checkpoint every few seconds as well as every N steps: here, every step.
    timed = tiny(checkpoint_seconds=1e-9)
    fit(timed, tmp_path / "timed", until=2, progress=False)
    index = json.loads((tmp_path / "timed" / "checkpoint.json").read_text())
    assert [r["step"] for r in index["kept"]] == [1, 2]


@pytest.mark.slow
def test_resume_after_sigkill_reproduces_the_run(tmp_path):
    args = ["train", "--steps", "12", "--checkpoint-every", "1", "--seed", "5", *TINY_ARGS]
    assert run_cli([*args, "--out", str(tmp_path / "straight")]) == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "eqx_multimodal", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    index = killed / "checkpoint.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if index.exists() and json.loads(index.read_text())["latest"]["step"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = json.loads(index.read_text())["latest"]["step"]
    assert 3 <= step <= 12
    assert run_cli([*args, "--out", str(killed), "--resume"]) == 0
    assert tree_equal(state_of(killed), state_of(tmp_path / "straight"))


@pytest.mark.slow
def test_a_finished_run_can_be_extended(tmp_path, capsys):
    out = tmp_path / "run"
    fit(tiny(steps=4), out, progress=False)
    fit(tiny(steps=8), out, resume=True, progress=True)
    assert "the run continues to 8 steps" in capsys.readouterr().err
    assert json.loads((out / "checkpoint.json").read_text())["latest"]["step"] == 8
    with pytest.raises(ValueError, match=r"the saved config differs in \['learning_rate'\]"):
        fit(tiny(steps=8, learning_rate=1e-4), out, resume=True, progress=False)
    with pytest.raises(ValueError, match="below the checkpoint's step 8"):
        fit(tiny(steps=6), out, resume=True, progress=False)


def test_an_interrupted_export_is_cleaned_up(tmp_path, capsys):
    left = tmp_path / ".data.x1y2.partial"
    (left / "image").mkdir(parents=True)
    (left / "image" / "000000.png").write_bytes(b"half")
    out = tmp_path / "data"
    assert run_cli(["export", "--num-samples", "2", "--out", str(out), "--modalities", "text"]) == 0
    assert not left.exists() and "removed" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.slow
def test_checkpoints_are_checked_against_their_checksum_and_step(tmp_path):
    out = tmp_path / "run"
    state, _ = fit(tiny(steps=2), out, progress=False)
    index = json.loads((out / "checkpoint.json").read_text())
    path = out / index["latest"]["file"]
    original = path.read_bytes()
    path.write_bytes(original + b"appended")
    with pytest.raises(CheckpointError, match="does not match its checksum"):
        load_run(out)
    path.write_bytes(original)
    index["latest"]["step"] = 99999
    (out / "checkpoint.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="holds the state of step 2, but checkpoint.json"):
        load_checkpoint(out, state)


@pytest.mark.slow
def test_metrics_with_a_torn_last_line_resume(tmp_path):
    out = tmp_path / "run"
    fit(tiny(steps=6), out, until=3, progress=False)
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "loss"')  # a crash of another writer, mid-line
    _, history = fit(tiny(steps=6), out, resume=True, progress=False)
    assert [row["step"] for row in history] == [1, 2, 3, 4, 5, 6]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    lines.insert(1, "{not json")
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl line 2: not JSON"):
        fit(tiny(steps=6), out, resume=True, progress=False)


# --- reading outside the folder ---------------------------------------------------------


@pytest.fixture
def text_folder(tmp_path):
    return em.save_paired_folder(
        tmp_path / "folder", {"image": np.zeros((2, 4, 4, 1)), "text": np.ones((2, 3), int)}
    )


@pytest.mark.parametrize("name", ["../outside.png", "/etc/hostname", "image/../../outside.png"])
def test_manifest_paths_must_stay_inside_the_folder(text_folder, name):
    shutil.copy(text_folder / "image" / "000001.png", text_folder.parent / "outside.png")
    manifest = json.loads((text_folder / "manifest.json").read_text())
    manifest["samples"][1]["image"] = name
    (text_folder / "image" / "000001.png").unlink()
    (text_folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ValueError,
        match=r"samples\[1\] \(id '000001'\).*"
        + "|".join(["leads outside the folder", "is absolute"]),
    ):
        em.load_paired_folder(text_folder)


def test_symlinks_may_not_leave_the_folder(text_folder):
    outside = text_folder.parent / "outside.png"
    shutil.copy(text_folder / "image" / "000001.png", outside)
    inside = text_folder / "image" / "000001.png"
    inside.unlink()
    inside.symlink_to(outside)
    with pytest.raises(ValueError, match="image/000001.png.*leads outside the folder"):
        em.load_paired_folder(text_folder)
    # A link to a file inside the folder is fine.
    inside.unlink()
    shutil.copy(text_folder / "image" / "000000.png", text_folder / "image" / "real.png")
    (text_folder / "image" / "real.png").rename(text_folder / "kept.png")
    inside.symlink_to(text_folder / "kept.png")
    assert len(em.load_paired_folder(text_folder)) == 2


# --- silent wrong results ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (["--vocab-size", "10000000000"], "`--vocab-size` must be at most 2,147,483,647"),
        (["--image-shape", "100000,100000,3"], "`--image-shape` (100000, 100000, 3) has"),
        (["--seq-length", "1000000000", "--num-samples", "300"], "more than half of this"),
        (["--seed", str(2**64)], "`--seed` must be at most"),
        (["--sample-rate", "1000"], "`--sample-rate` must be at least 4000 Hz, twice the"),
    ],
)
def test_sizes_and_seeds_out_of_range_are_one_line_errors(args, message, tmp_path, capsys):
    assert run_cli(["generate", "--out", str(tmp_path / "d.npz"), *args]) == 2
    assert message in one_line(capsys)


def test_a_batch_larger_than_the_data_is_capped_and_seeds_do_not_wrap(tmp_path):
    path = tmp_path / "d.npz"
    args = ["generate", "--num-samples", "3", "--modalities", "text", "--quiet"]
    assert run_cli([*args, "--batch-size", "1000000000", "--out", str(path)]) == 0
    assert np.load(path)["text"].shape == (3, 50)
    texts = {}
    for seed in (0, 2**32, 2**63):
        assert run_cli([*args, "--seed", str(seed), "--out", str(path)]) == 0
        texts[seed] = np.load(path)["text"]
    assert not np.array_equal(texts[0], texts[2**32])
    assert not np.array_equal(texts[2**32], texts[2**63])


@pytest.mark.slow
def test_a_diverging_run_stops_with_the_step_and_strict_json(tmp_path, capsys):
    out = tmp_path / "run"
    code = run_cli(
        ["train", "--steps", "30", "--learning-rate", "1e30", "--out", str(out), *TINY_ARGS]
    )
    err = one_line(capsys)
    assert code == 2 and "training diverged: the loss is nan at step" in err
    for line in (out / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in metrics.jsonl"))
    with pytest.raises(TrainingDiverged, match="at step"):
        fit(tiny(learning_rate=1e30, steps=30), tmp_path / "api", progress=False)


def test_paired_arrays_obey_the_rules_files_obey(without_runtime_typecheck):
    with without_runtime_typecheck():
        with pytest.raises(TypeError, match=r"`data\['audio'\]` must hold real numbers"):
            em.PairedDataset({"audio": np.zeros((2, 4), np.complex64)})
        with pytest.raises(TypeError, match=r"`data\['image'\]` must hold floating-point"):
            em.PairedDataset({"image": np.zeros((2, 4, 4, 1), bool)})
        with pytest.raises(ValueError, match=r"`data\['text'\]` tokens must be in \[0, 2\*\*31\)"):
            em.PairedDataset({"text": np.array([[1, -2]])})
        with pytest.raises(ValueError, match="has the key 'video'"):
            em.PairedDataset({"text": np.ones((2, 2), int), "video": np.zeros((2, 3))})
        with pytest.raises(
            TypeError, match=r"`data\['text'\]` must hold real numbers, got dtype <U"
        ):
            em.PairedDataset({"text": np.array([["a", "b"]])})
    assert "alignment_score" in em.PairedDataset({"text": np.ones((2, 2), int)})[0]


def test_fusion_names_a_wrong_shape():
    fusion = AttentionFusion(16, 4, 3, key=jr.key(0))
    with pytest.raises(ValueError, match=r"`embeddings` must be .* \(3, 16\).*got shape \(3, 8\)"):
        fusion(jnp.zeros((3, 8)))


def test_a_wav_of_another_rate_is_reported_by_its_rate(text_folder):
    em.save_paired_folder(
        text_folder.parent / "audio",
        {"audio": np.zeros((2, 400))},
        sample_rate=4000,
    )
    import wave

    with wave.open(str(text_folder.parent / "audio" / "audio" / "000001.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(np.zeros(150, "<i2").tobytes())
    with pytest.raises(ValueError, match="sample rate 8000 Hz, expected 4000 Hz"):
        em.load_paired_folder(text_folder.parent / "audio")


# --- what a person sees -----------------------------------------------------------------


@pytest.mark.slow
def test_a_run_says_what_it_does_when_not_on_a_terminal(tmp_path, capsys):
    fit(tiny(steps=2), tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    assert "building the validation gallery of 16" in err
    assert "compiling the training step" in err
    assert "train: 100%" in err and "\r" not in err


@pytest.mark.slow
def test_results_are_written_with_the_users_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert run_cli(["train", "--steps", "2", "--out", str(out), *TINY_ARGS]) == 0
    finally:
        os.umask(mask)
    for name in ("evaluation.json", "config.json", "checkpoint.json", "metrics.jsonl"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name
    result = json.loads((out / "evaluation.json").read_text())
    assert result["seed"] == 0 and result["checkpoint_step"] == 2
    assert result["gallery"] == 16 and result["reconstruction_items"] == 16

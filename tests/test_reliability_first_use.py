"""What a new user meets first, and what must not pass in silence: a run with nothing to
align, non-finite training, options that do nothing, the defaults of a first run on a
folder (audio length, batch size, the compilation cache), evaluation at alignment 1, and
the report."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.training import TrainConfig

from .helpers import run_cli


RATE = 4000
# The first round's towers compile fastest; these tests are about the command line.
TINY_ARGS = [
    "--towers",
    "guide",
    "--image-shape",
    "8,8,1",
    "--vocab-size",
    "20",
    "--seq-length",
    "6",
    "--sample-rate",
    "4000",
    "--duration",
    "0.05",
    "--batch-size",
    "8",
    "--gallery",
    "16",
    "--val-gallery",
    "8",
    "--no-report",
    "--quiet",
]


def small_folder(path, n=40, *, modalities=("image", "audio", "text"), lengths=None, seed=0):
    """A paired folder of `n` samples; `lengths` gives each clip's samples."""
    rng = np.random.default_rng(seed)
    data = {}
    if "image" in modalities:
        data["image"] = rng.uniform(size=(n, 8, 8, 1))
    if "text" in modalities:
        data["text"] = rng.integers(0, 20, size=(n, 5))
    if "audio" in modalities:
        data["audio"] = rng.uniform(-0.5, 0.5, size=(n, 200))
    path = em.save_paired_folder(path, data, sample_rate=RATE if "audio" in data else None)
    if lengths is not None:
        _rewrite_clips(path, rng, lengths)
    return path


def _rewrite_clips(path, rng, lengths):
    """The folder's clips rewritten with `lengths` samples."""
    import wave

    for i, length in enumerate(lengths):
        pcm = (rng.uniform(-0.5, 0.5, size=length) * 32767).astype("<i2")
        with wave.open(str(path / "audio" / f"{i:06d}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(RATE)
            f.writeframes(pcm.tobytes())


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


# --- nothing to align ----------------------------------------------------------------


@pytest.mark.parametrize("modality", ["image", "text", "audio"])
def test_synthetic_run_of_one_modality_is_refused(modality, tmp_path, capsys):
    args = ["train", "--steps", "1", "--modalities", modality, "--out", str(tmp_path / "r")]
    assert run_cli([*args, "--quiet", "--no-report"]) == 2
    err = error_line(capsys)
    assert "--modalities" in err and "nothing to align" in err
    assert not (tmp_path / "r").exists()


def test_folder_of_one_modality_is_refused(tmp_path, capsys):
    folder = small_folder(tmp_path / "d", modalities=("image",))
    args = ["train", "--data", str(folder), "--out", str(tmp_path / "r"), "--quiet"]
    assert run_cli([*args, "--no-report"]) == 2
    err = error_line(capsys)
    assert str(folder) in err and "one modality (image)" in err and "nothing to align" in err


def test_api_refuses_a_config_of_one_modality():
    with pytest.raises(ValueError, match="`modalities` \\['audio'\\] is one modality"):
        TrainConfig(data=em.SyntheticConfig(modalities=["audio"]))


# --- options that do nothing in context ---------------------------------------------


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--alignment", "1"], "--alignment"),
        (["--alignment", "0.8"], "--alignment"),  # the default value, given: still refused
        (["--gallery", "0"], "--gallery"),
        (["--modalities", "image,audio"], "--modalities"),
        (["--image-shape", "4,4,1"], "--image-shape"),
        (["--duration", "2"], "--duration"),
        (["--curriculum", "0.5"], "--curriculum"),
    ],
)
def test_train_refuses_synthetic_options_with_data(extra, named, tmp_path, capsys):
    folder = small_folder(tmp_path / "d", n=4)
    args = ["train", "--data", str(folder), "--out", str(tmp_path / "r"), "--quiet"]
    assert run_cli([*args, "--no-report", *extra]) == 2
    err = error_line(capsys)
    assert named in err and "synthetic" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--resize", "8,8,3"], "--resize"),
        (["--audio-seconds", "1"], "--audio-seconds"),
        (["--split-seed", "3"], "--split-seed"),
        (["--allow-missing"], "--allow-missing"),
        (["--max-text-length", "9"], "--max-text-length"),
        (["--resample", "8000"], "--resample"),
    ],
)
def test_train_refuses_folder_options_without_data(extra, named, tmp_path, capsys):
    assert run_cli(["train", "--out", str(tmp_path / "r"), "--quiet", *extra]) == 2
    err = error_line(capsys)
    assert named in err and "--data" in err


@pytest.mark.parametrize("towers", ["guide", "generic"])
def test_train_refuses_rerank_top_without_the_sets_towers(towers, tmp_path, capsys):
    args = ["train", "--towers", towers, "--rerank-top", "8", "--out", str(tmp_path / "r")]
    assert run_cli([*args, "--quiet"]) == 2
    err = error_line(capsys)
    assert "--rerank-top 8 does nothing" in err and towers in err


def test_train_refuses_split_seed_with_val_data(tmp_path, capsys):
    folder = small_folder(tmp_path / "d", n=4)
    args = ["train", "--data", str(folder), "--val-data", str(folder), "--split-seed", "1"]
    assert run_cli([*args, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "--split-seed does nothing with --val-data" in error_line(capsys)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "run"
    argv = ["train", "--steps", "2", "--modalities", "image,text", "--out", str(out)]
    assert run_cli([*argv, *TINY_ARGS]) == 0
    return out


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--gallery", "0"], "--gallery"),
        (["--gallery", "1000"], "--gallery"),
        (["--alignment", "1"], "--alignment"),
        (["--seed", "3"], "--seed"),
        (["--ceiling"], "--ceiling"),
    ],
)
def test_evaluate_refuses_synthetic_options_with_data(tiny_run, extra, named, tmp_path, capsys):
    folder = small_folder(tmp_path / "d", n=4)
    argv = ["evaluate", "--checkpoint", str(tiny_run), "--data", str(folder), *extra]
    assert run_cli(argv) == 2
    err = error_line(capsys)
    assert named in err and "synthetic" in err


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--cache-dir", "x"], "--cache-dir is where --ceiling"),
        (["--rerank-top", "4"], "--rerank-top 4 does nothing"),
    ],
)
def test_evaluate_refuses_options_that_do_nothing(tiny_run, extra, expected, capsys):
    argv = ["evaluate", "--checkpoint", str(tiny_run), "--gallery", "8", "--quiet", *extra]
    assert run_cli(argv) == 2
    assert expected in error_line(capsys)


# --- non-finite training ---------------------------------------------------------------


SMALL = em.SyntheticConfig(
    modalities=["image", "text"], image_shape=(8, 8, 1), vocab_size=20, seq_length=6
)


def small_config(**changes):
    fields = dict(
        data=SMALL,
        towers="guide",
        steps=6,
        batch_size=8,
        latent_dim=8,
        d_model=16,
        log_every=1,
        eval_every=3,
        checkpoint_every=1,
        val_gallery=8,
        loss=em.losses.LossWeights(recon_batch=4),
    )
    return TrainConfig(**{**fields, **changes})


def test_one_step_at_a_huge_learning_rate_is_an_error_not_a_table(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--learning-rate", "1e10", "--steps", "1", "--out", str(out)]
    assert run_cli([*argv, "--modalities", "image,text", *TINY_ARGS]) == 2
    err = error_line(capsys)
    assert "training diverged: the validation loss is nan at step 1" in err
    assert "no checkpoint was saved" in err
    assert not (out / "evaluation.json").exists()


@pytest.mark.slow
def test_every_checkpoint_named_finite_is_finite_everywhere(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(em.training.TrainingDiverged, match="training diverged") as info:
        em.training.fit(small_config(learning_rate=1e10), out, progress=False)
    # The run names a checkpoint as finite (a checkpoint every step; it diverges later).
    assert "the last finite checkpoint is step" in str(info.value)
    index = json.loads((out / "checkpoint.json").read_text())
    assert index["latest"]["step"] >= 1
    for which in [w for w in ("latest", "best") if index.get(w)]:
        config, state = em.training.load_run(out, which=which)
        items = em.synthetic_batch(jnp.arange(8), key=em.training.stream_key(0, 1), config=SMALL)
        latents = em.training.embed(state.model, {k: np.asarray(v) for k, v in items.items()})
        assert all(np.isfinite(v).all() for v in latents.values()), which


def _nan_model(model):
    import equinox as eqx
    import jax

    params, static = eqx.partition(model, eqx.is_inexact_array)
    return eqx.combine(jax.tree.map(lambda x: x * np.nan, params), static)


def test_evaluate_refuses_a_model_of_nan_embeddings(tiny_run, tmp_path, capsys):
    import shutil

    from eqx_multimodal.training import load_run, save_checkpoint

    config, state = load_run(tiny_run)
    with pytest.raises(ValueError, match="embeddings of 16 of 16 items are NaN or infinite"):
        em.training.evaluate(
            _nan_model(state.model),
            config.synthetic_config(),
            gallery=16,
            key=em.training.stream_key(0, 2),
        )
    broken = shutil.copytree(tiny_run, tmp_path / "broken")
    import equinox as eqx

    nan_state = eqx.tree_at(lambda s: s.model, state, _nan_model(state.model))
    save_checkpoint(broken, nan_state, int(state.step))
    argv = ["evaluate", "--checkpoint", str(broken), "--gallery", "8", "--quiet"]
    assert run_cli(argv) == 2
    assert "NaN or infinite" in error_line(capsys)


# --- the defaults of a first run on a folder -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("batch", [None, "500"])
def test_batch_size_is_capped_at_the_training_split(batch, tmp_path, capsys):
    folder = small_folder(tmp_path / "d", n=40, modalities=("image", "text"))
    out = tmp_path / "run"
    argv = ["train", "--data", str(folder), "--steps", "1", "--out", str(out), "--no-report"]
    assert run_cli([*argv, *([] if batch is None else ["--batch-size", batch])]) == 0
    err = capsys.readouterr().err
    samples = int(err.split("training on: ")[1].split(" samples")[0])
    assert f"is more than the {samples} training samples: batches of {samples}" in err
    assert json.loads((out / "config.json").read_text())["batch_size"] == samples


@pytest.mark.parametrize(
    "lengths, expected",
    [
        ([200] * 10, (200, None)),
        ([200] * 39 + [4000], (200, "95th percentile")),  # one outlier is cut
        ([100, 200, 300, 400], (400, "95th percentile")),
        ([100, 40 * RATE], (30 * RATE, "cap of 30 s")),
    ],
)
def test_auto_audio_length(lengths, expected):
    from eqx_multimodal.data._loader import auto_audio_length

    length, rule = auto_audio_length(lengths, RATE)
    assert length == expected[0]
    assert (rule is None) == (expected[1] is None)
    if rule is not None:
        assert expected[1] in rule and f"{length / RATE:g} s" in rule


def test_a_folder_of_varying_clips_reads_with_auto_length(tmp_path):
    lengths = [200 + 10 * i for i in range(20)]
    folder = small_folder(tmp_path / "d", n=20, lengths=lengths)
    with pytest.raises(ValueError, match="--audio-seconds"):
        em.PairedFolder(folder)  # the library's default stays strict
    auto = em.PairedFolder(folder, audio_length="auto")
    assert auto.audio_length == 390 and "95th percentile" in auto.audio_rule
    assert auto.read(0)["audio"].shape == (390,)
    assert auto.options()["audio_length"] == 390


@pytest.mark.slow
def test_train_picks_says_and_records_the_audio_length(tmp_path, capsys):
    lengths = [200 + 10 * i for i in range(40)]
    folder = small_folder(tmp_path / "d", n=40, modalities=("image", "audio"), lengths=lengths)
    argv = ["train", "--data", str(folder), "--steps", "1", "--batch-size", "8", "--no-report"]
    assert run_cli([*argv, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "audio: clips of 0.05 to 0.1475 s: each cut or padded to 0.145 s" in err
    record = json.loads((tmp_path / "run" / "data.json").read_text())
    assert record["options"]["audio_length"] == 580 and "95th" in record["audio_length_rule"]
    # --audio-seconds overrides.
    argv += ["--audio-seconds", "0.1", "--out", str(tmp_path / "fixed"), "--quiet"]
    assert run_cli(argv) == 0
    record = json.loads((tmp_path / "fixed" / "data.json").read_text())
    assert record["options"]["audio_length"] == 400 and "audio_length_rule" not in record


def test_one_default_for_reconstruction(tiny_run):
    # The command line's default run has no decoders; so does `TrainConfig()`.
    saved = TrainConfig.from_json((tiny_run / "config.json").read_text())
    assert dict(TrainConfig().loss.reconstruction) == {} == dict(saved.loss.reconstruction)
    assert TrainConfig().loss == saved.loss
    # A config written without a loss reads back with the same default.
    fields = TrainConfig(steps=3).to_dict()
    del fields["loss"]
    assert TrainConfig.from_dict(fields) == TrainConfig(steps=3)
    assert em.training.make_model(TrainConfig(steps=3)).decoders == {}


# --- evaluation at alignment 1 ---------------------------------------------------------------


@pytest.mark.slow
def test_the_verifier_ranks_noise_free_images_alike():
    # At alignment 1 the images have no noise: the verifier's likelihood ratio, divided
    # by each image's own residual (rounding), made images incomparable and audio->image
    # fell to 0.75 R@1 here. Parameter-free: an untrained model's verifier alone.
    data = em.SyntheticConfig(modalities=["image", "audio"], alignment=1.0)
    model = em.nn.SharedLatentModel(
        data,
        towers="sets",
        latent_dim=8,
        d_model=8,
        decoders=False,
        key=em.training.stream_key(0, 3),
    )
    result = em.training.evaluate(
        model,
        data,
        gallery=32,
        key=em.training.stream_key(0, 2),
        reranker=em.guide.SetReranker(),
        rerank_top=32,
        rerank_weight=0.0,
    )
    recall = {pair: m["recall@1"] for pair, m in result["retrieval"].items()}
    assert recall["image->audio"] > 0.9, recall  # unaffected by the images' scale
    assert recall["audio->image"] > 0.9, recall


# --- the compilation cache -------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, env, expected",
    [
        (False, {}, "XDG/eqx-multimodal/jax"),
        (True, {}, None),
        (False, {"EQX_MULTIMODAL_COMPILE_CACHE": "0"}, None),
        (False, {"EQX_MULTIMODAL_COMPILE_CACHE": "off"}, None),
        (False, {"EQX_MULTIMODAL_COMPILE_CACHE": "1"}, "XDG/eqx-multimodal/jax"),
        (False, {"EQX_MULTIMODAL_COMPILE_CACHE": "OTHER"}, "OTHER"),
        (False, {"JAX_COMPILATION_CACHE_DIR": "mine"}, None),  # the user's own: left alone
    ],
)
def test_where_the_command_line_caches_compiled_programs(
    flag, env, expected, tmp_path, monkeypatch
):
    import argparse

    from eqx_multimodal.cli._cache import compile_cache_dir

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("EQX_MULTIMODAL_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "XDG"))
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("OTHER", str(tmp_path / "OTHER")))
    got = compile_cache_dir(argparse.Namespace(no_compile_cache=flag))
    want = None if expected is None else tmp_path / expected
    assert got == want


@pytest.mark.parametrize("off", [[], ["--no-compile-cache"]])
def test_the_command_line_keeps_compiled_programs(off, tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=os.pathsep.join(sys.path))
    argv = ["generate", "--num-samples", "2", "--modalities", "image,audio", "--quiet"]
    argv += ["--image-shape", "8,8,1", "--sample-rate", "4000", "--duration", "0.05"]
    argv += ["--out", str(tmp_path / "x.npz"), *off]
    done = subprocess.run([sys.executable, "-m", "eqx_multimodal", *argv], env=env)
    assert done.returncode == 0
    cache = tmp_path / "cache" / "eqx-multimodal" / "jax"
    assert bool(off) != (cache.is_dir() and any(cache.iterdir()))


# --- the report ----------------------------------------------------------------------------


def _history():
    """A run validated 5 times whose validation score peaks at step 20."""
    rows = []
    for step, score in zip((10, 20, 30, 40, 50), (0.2, 0.5, 0.4, 0.4, 0.3)):
        row = {"step": step, "loss": 3.0 - step / 50, "steps_per_sec": 5.0}
        row.update({"contrastive/image-audio": 2.0, "temperature/image-audio": 1.0})
        row.update({"val_loss": 2.0 + abs(step - 20) / 20, "val_score": score})
        for pair in ("image->audio", "audio->image"):
            row[f"val_recall@1 {pair}"] = score / 2
            row[f"val_recall@10 {pair}"] = score
        rows.append(row)
    return rows


EVALUATION = {
    "retrieval": {
        "image->audio": {"recall@1": 0.61, "recall@10": 0.9},
        "audio->image": {"recall@1": 0.55, "recall@10": 0.8},
    },
    "retrieval_two_tower": {
        "image->audio": {"recall@1": 0.07, "recall@10": 0.3},
        "audio->image": {"recall@1": 0.03, "recall@10": 0.2},
    },
    "label_retrieval": {
        "image->audio": {"precision@1": 0.812},
        "audio->image": {"precision@1": 0.734},
    },
    "zero_shot": {"image": 0.456, "audio": 0.321},
    "checkpoint_step": 50,
}


@pytest.mark.parametrize("labelled", [False, True])
def test_the_report_says_what_it_shows(labelled, tmp_path):
    from eqx_multimodal.viz import training_report

    evaluation = dict(EVALUATION)
    if not labelled:
        del evaluation["label_retrieval"], evaluation["zero_shot"]
    figure = training_report(
        _history(), evaluation["retrieval"], tmp_path / "r.png", evaluation=evaluation
    )
    axes = figure.axes
    table = axes[-1]
    recall = next(ax for ax in axes if ax.get_title().startswith("validation recall"))
    # The curves are the two towers' (as validated); the table says which pairs are
    # re-ranked and shows their two-tower figures beside.
    assert "two-tower" in recall.get_title()
    title = table.get_title()
    assert "audio->image, image->audio re-ranked" in title
    cells = {c.get_text().get_text() for c in table.tables[0].get_celld().values()}
    assert {"two-tower recall@1", "0.07", "0.61"} <= cells
    # Labels: the same-label precision@1 and the zero-shot accuracy.
    assert ({"same-label P@1", "0.812"} <= cells) == labelled
    assert ("zero-shot accuracy from the label names: image 0.456, audio 0.321" in title) == (
        labelled
    )
    # Which checkpoint the table is of, and the best one, marked on the curves.
    assert "evaluated: the latest checkpoint, step 50" in title
    assert "best by validation recall: step 20" in title
    marks = [line for line in recall.lines if line.get_label() == "best checkpoint"]
    assert marks and list(marks[0].get_xdata()) == [20, 20]
    # No empty panel; the recall legend is beside its curves, not over them.
    for ax in axes[:-1]:
        assert ax.lines or ax.get_legend() is not None, ax.get_title()
    assert recall.get_legend() is None


def test_train_says_which_checkpoint_it_evaluated():
    from eqx_multimodal.cli._train import _which_checkpoint

    text = _which_checkpoint(_history(), 50)
    assert "evaluated: the latest checkpoint (step 50)" in text
    assert "the best by validation recall is step 20 (0.500 against 0.300" in text
    assert "the validation loss is lowest at step 20 and rose after" in text
    assert "also the best" in _which_checkpoint(_history()[:2], 20)

import json
import shutil

import pytest

from .helpers import run_cli


DATA = [
    "--image-shape",
    "8,8,3",
    "--vocab-size",
    "20",
    "--seq-length",
    "6",
    "--sample-rate",
    "4000",
    "--duration",
    "0.1",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = run_cli(
        [
            "train",
            "--steps",
            "4",
            "--batch-size",
            "8",
            "--gallery",
            "40",
            "--val-gallery",
            "16",
            "--out",
            str(out),
            "--quiet",
            *DATA,
        ]
    )
    assert code == 0
    return out


@pytest.mark.slow
def test_train_writes_the_run(run_dir):
    for name in (
        "checkpoint.json",
        "checkpoints",
        "config.json",
        "metrics.jsonl",
        "evaluation.json",
        "report.png",
    ):
        assert (run_dir / name).exists(), name
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows and all("step" in row for row in rows)
    assert rows[-1]["step"] == 4 and "loss" in rows[-1]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["steps"] == 4 and config["data"]["image_shape"] == [8, 8, 3]


@pytest.mark.slow
def test_evaluate_writes_every_ordered_pair(run_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = run_cli(
        [
            "evaluate",
            "--checkpoint",
            str(run_dir),
            "--gallery",
            "30",
            "--seed",
            "5",
            "--alignment",
            "1.0",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    pairs = {
        f"{a}->{b}"
        for a in ("image", "text", "audio")
        for b in ("image", "text", "audio")
        if a != b
    }
    assert set(result["retrieval"]) == pairs
    for metrics in result["retrieval"].values():
        assert set(metrics) == {"recall@1", "recall@5", "recall@10", "median_rank"}
    assert result["gallery"] == 30 and result["alignment"] == 1.0
    assert "image->audio" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_a_subset_of_modalities(run_dir, tmp_path):
    out = tmp_path / "eval.json"
    assert (
        run_cli(
            [
                "evaluate",
                "--checkpoint",
                str(run_dir),
                "--gallery",
                "20",
                "--modalities",
                "image,audio",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert set(json.loads(out.read_text())["retrieval"]) == {"image->audio", "audio->image"}


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--steps", "0"], "`--steps` must be a positive integer, got 0"),
        (["train", "--alignment", "1.5"], "`--alignment` must be in [0, 1], got 1.5"),
        (["train", "--batch-size", "1", "--steps", "1"], "`--batch-size` must be an integer >= 2"),
        (["train", "--modalities", "image,video"], "`--modalities` contains unknown modality"),
        (["train", "--steps", "x"], "argument --steps: invalid int value: 'x'"),
        (["train", "--generator-steps", "5"], "--generator-steps goes with --generation"),
        (
            ["train", "--generation", "--generator-steps", "-1"],
            "`--generator-steps` must be an integer >= 0, got -1",
        ),
        (["evaluate", "--checkpoint", "/nonexistent/run"], "does not exist"),
        (["evaluate"], "the following arguments are required: --checkpoint"),
    ],
)
def test_bad_options_are_one_line_errors(args, message, capsys):
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_train_generation_runs_two_phases_and_draws_what_it_makes(tmp_path, capsys):
    out = tmp_path / "gen"
    argv = ["train", "--generation", "--steps", "3", "--generator-steps", "2", "--batch-size"]
    argv += ["8", "--gallery", "16", "--val-gallery", "8", "--out", str(out), *DATA]
    assert run_cli(argv) == 0
    captured = capsys.readouterr()
    assert "3 steps, then 2 of the generators alone, of 8 fresh samples" in captured.err
    assert "report.png, generated.png}" in captured.out
    config = json.loads((out / "config.json").read_text())
    assert config["steps"] == 5 and config["generation"]["frozen_steps"] == 2
    assert (out / "generated.png").stat().st_size > 0
    # The synthetic held-out gallery, translated into a paired folder.
    made = tmp_path / "made"
    argv = ["translate", "--checkpoint", str(out), "--gallery", "3", "--from", "audio"]
    assert run_cli([*argv, "--to", "image", "--out", str(made), "--quiet"]) == 0
    assert len(list((made / "image").iterdir())) == 3


def test_evaluate_generation_options_are_checked_for_the_kind_of_data():
    import argparse

    from eqx_multimodal.cli._errors import CommandError
    from eqx_multimodal.cli._evaluate import _check_generation_options

    class Run:
        generators = object()

    def check(**options):
        names = ("samples", "temperature", "judge_steps", "reference_gallery", "data")
        values = {name: None for name in names}
        _check_generation_options(
            argparse.Namespace(**{**values, "no_generation": False, **options}), Run()
        )

    check(samples=2, judge_steps=9, data="folder")
    check(reference_gallery=50, temperature=0.5)
    with pytest.raises(CommandError, match="--samples is for a run on --data"):
        check(samples=2)  # synthetic reference coherence draws one sample
    with pytest.raises(CommandError, match="--reference-gallery is for the synthetic data"):
        check(reference_gallery=50, data="folder")
    # Bad values are refused here, before anything is evaluated.
    with pytest.raises(ValueError, match="temperature"):
        check(temperature=0.0)
    with pytest.raises(ValueError, match="samples"):
        check(samples=0, data="folder")


@pytest.mark.slow  # its fixture trains a run (23 s): the inner loop leaves it
@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "0.5"], "--temperature is for the generation measures, and this run "),
        (["--samples", "2"], "--samples is for the generation measures"),
        (["--judge-steps", "9"], "--judge-steps is for the generation measures"),
    ],
)
def test_evaluate_refuses_generation_options_on_a_run_without_generators(
    args, message, run_dir, capsys
):
    assert run_cli(["evaluate", "--checkpoint", str(run_dir), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow  # its fixture trains a run (20 s): the inner loop leaves it
def test_corrupt_or_missing_checkpoints(run_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli(["evaluate", "--checkpoint", str(empty)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    latest = json.loads((broken / "checkpoint.json").read_text())["latest"]["file"]
    (broken / latest).write_bytes(b"not a checkpoint")
    assert run_cli(["evaluate", "--checkpoint", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not match its checksum" in err and len(err.splitlines()) == 1
    (broken / "checkpoint.json").write_text("{")
    assert run_cli(["evaluate", "--checkpoint", str(broken)]) == 2
    assert "is corrupt" in capsys.readouterr().err
    # A file where the run's folder belongs says so.
    assert run_cli(["evaluate", "--checkpoint", str(run_dir / "config.json")]) == 2
    assert "is a file; pass the run's folder" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_rejects_untrained_modalities(tmp_path, capsys):
    out = tmp_path / "ia"
    assert (
        run_cli(
            [
                "train",
                "--steps",
                "2",
                "--batch-size",
                "4",
                "--gallery",
                "10",
                "--val-gallery",
                "16",
                "--modalities",
                "image,audio",
                "--towers",
                "guide",
                "--out",
                str(out),
                "--quiet",
                "--no-report",
                *DATA,
            ]
        )
        == 0
    )
    assert run_cli(["evaluate", "--checkpoint", str(out), "--modalities", "image,text"]) == 2
    err = capsys.readouterr().err
    assert "--modalities must name at least two of the run's modalities" in err


def test_the_reference_gallery_defaults_to_the_gallery():
    """`evaluate` of a synthetic generation run with neither option (it once failed)."""
    import argparse

    from eqx_multimodal.cli._evaluate import DEFAULT_GALLERY, reference_size

    def size(**options):
        return reference_size(
            argparse.Namespace(**{"reference_gallery": None, "gallery": None, **options})
        )

    assert size() == DEFAULT_GALLERY
    assert size(gallery=300) == 300
    assert size(gallery=300, reference_gallery=50) == 50
    with pytest.raises(ValueError, match="reference_gallery"):
        size(reference_gallery=1)

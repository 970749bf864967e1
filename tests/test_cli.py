import subprocess
import sys

import numpy as np
import pytest

from eqx_multimodal.cli import main


def run(argv):
    """The exit status of the command line, whether it returns or exits."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


def test_generate_writes_the_dataset(tmp_path, capsys):
    out = tmp_path / "data.npz"
    code = main(
        [
            "generate",
            "--num-samples",
            "10",
            "--alignment",
            "0.5",
            "--out",
            str(out),
            "--image-shape",
            "8,8,1",
            "--sample-rate",
            "4000",
            "--duration",
            "0.05",
            "--batch-size",
            "4",
        ]
    )
    assert code == 0
    data = np.load(out)
    assert sorted(data.files) == ["alignment_score", "audio", "image", "latent", "text"]
    assert data["image"].shape == (10, 8, 8, 1) and data["audio"].shape == (10, 200)
    assert data["text"].shape == (10, 50) and data["text"].dtype == np.int32
    np.testing.assert_allclose(data["alignment_score"], 0.5)
    printed = capsys.readouterr().out
    assert "samples/s" in printed and "16000" not in printed and "10x8x8x1" in printed


def test_generate_is_deterministic_and_seeded(tmp_path):
    paths = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        path = tmp_path / f"{name}.npz"
        args = [
            "generate",
            "--num-samples",
            "3",
            "--modalities",
            "text",
            "--seed",
            str(seed),
            "--out",
            str(path),
            "--quiet",
        ]
        assert main(args) == 0
        paths.append(np.load(path))
    assert np.array_equal(paths[0]["text"], paths[1]["text"])
    assert not np.array_equal(paths[0]["text"], paths[2]["text"])
    assert "image" not in paths[0].files


@pytest.mark.parametrize(
    "args,message",
    [
        (["--alignment", "1.5"], "`--alignment` must be in [0, 1], got 1.5"),
        (["--num-samples", "0"], "`--num-samples` must be a positive integer, got 0"),
        (["--modalities", "image,smell"], "`--modalities` contains unknown modality 'smell'"),
        (["--out", "x.txt"], "--out must end in .npz"),
        (["--image-shape", "8,8"], "`--image-shape` must have 3 entries, got 2"),
        (["--image-shape", "8,a,3"], "argument --image-shape: expected comma-separated integers"),
        (["--sample-rate", "10", "--duration", "0.01"], "at least one audio sample"),
    ],
)
def test_generate_bad_options_are_one_line_errors(args, message, capsys):
    assert run(["generate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_console_script_and_module_entry_points():
    out = subprocess.run(
        [sys.executable, "-m", "eqx_multimodal", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("eqx-multimodal ")
    out = subprocess.run(
        [sys.executable, "-m", "eqx_multimodal", "generate", "--help"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "--num-samples" in out.stdout
    out = subprocess.run([sys.executable, "-m", "eqx_multimodal"], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # a subprocess
def test_the_default_modalities_are_the_guide_s_and_the_parser_loads_no_guide():
    # The command line spells the guide's defaults without importing the guide (and the
    # training it builds on), so that `--help` and a refused option answer quickly.
    import subprocess
    import sys

    from eqx_multimodal.cli._args import DATA_DEFAULTS
    from eqx_multimodal.guide import GUIDE_MODALITIES

    assert DATA_DEFAULTS["modalities"] == GUIDE_MODALITIES
    code = "import sys, eqx_multimodal.cli._main; print('eqx_multimodal.guide' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"

"""The examples run (quickly, with small arguments where they take any)."""

import pathlib
import subprocess
import sys

import pytest


EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


@pytest.mark.slow
@pytest.mark.parametrize(
    "script,args,expected",
    [
        ("guide_datasets.py", [], "Sample 2:"),
        ("functional_data.py", [], "alignment 1.0:"),
        (
            "complete_training.py",
            ["--epochs", "1", "--num-samples", "128", "--batch-size", "32"],
            "Epoch 1/1 complete",
        ),
        ("fourth_modality.py", ["--steps", "2", "--num-samples", "40"], "12 ordered pairs"),
    ],
)
@pytest.mark.slow
def test_example_runs(script, args, expected):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert expected in out.stdout

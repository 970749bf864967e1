"""The spoken-digits folder: real recordings nobody here wrote, built offline, and a
brief training run on a small copy (the README's full run is in `benchmarks/`)."""

import json
import os
import shutil

import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.data import _digits

from .helpers import run_cli


#: CI installs espeak-ng and sets this, so that the tests cannot be skipped there.
REQUIRED = os.environ.get("EQX_MULTIMODAL_REQUIRE_ESPEAK") == "1"
missing = shutil.which("espeak-ng") is None
needs_espeak = pytest.mark.skipif(
    missing and not REQUIRED, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    pytest.importorskip("sklearn")
    return em.data.build_spoken_digits(tmp_path_factory.mktemp("digits") / "d", num_samples=200)


@pytest.mark.slow
@needs_espeak
def test_the_folder_is_real_paired_and_reproducible(digits, tmp_path):
    folder = em.PairedFolder(digits)
    assert len(folder) == 200 and folder.modalities == ("image", "text", "audio")
    assert folder.label_names == tuple(str(d) for d in range(10))
    assert folder.image_shape == (16, 16, 1) and folder.sample_rate == 16000
    sample = folder.read(0)
    assert 0.3 <= np.abs(sample["audio"]).max() <= 0.9  # speech at the drawn level
    manifest = json.loads((digits / "manifest.json").read_text())
    record = manifest["samples"][0]
    label = record["label"]
    caption = json.loads((digits / "text.jsonl").read_text().splitlines()[0])["text"]
    words = dict(zip(_digits.LABELS, _digits.WORDS))
    assert label in caption or words[label] in caption  # paired by class
    # Rebuilt with the same seed: the same files, byte for byte.
    again = em.data.build_spoken_digits(tmp_path / "again", num_samples=200)
    for name in ("manifest.json", "text.jsonl", record["image"], record["audio"]):
        assert (again / name).read_bytes() == (digits / name).read_bytes(), name


def test_a_missing_synthesiser_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert run_cli(["digits", "--out", str(tmp_path / "d"), "--num-samples", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "apt-get install espeak-ng" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "d").exists()


@needs_espeak
@pytest.mark.slow
def test_a_brief_run_on_a_small_copy_learns_the_classes(digits, tmp_path):
    run = tmp_path / "run"
    train = ["train", "--data", str(digits), "--steps", "60", "--batch-size", "64"]
    assert run_cli([*train, "--out", str(run), "--no-report", "--quiet"]) == 0
    result = tmp_path / "test.json"
    evaluate = ["evaluate", "--checkpoint", str(run), "--data", str(digits), "--split"]
    assert run_cli([*evaluate, "validation", "--json", str(result), "--quiet"]) == 0
    found = json.loads(result.read_text())
    precision = np.mean([v["precision@1"] for v in found["label_retrieval"].values()])
    assert precision > 0.35, found["label_retrieval"]  # chance: about 0.1
    assert set(found["zero_shot"]) == {"image", "audio"}

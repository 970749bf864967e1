import json
import shutil
import sys
import wave

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from PIL import Image

import eqx_multimodal as em
from eqx_multimodal.cli import main
from eqx_multimodal.data import PairedFolderWriter

from .helpers import run_cli as run


CONFIG = em.SyntheticConfig(
    alignment=0.7, image_shape=(8, 8, 3), sample_rate=4000, duration=0.05, seq_length=12
)
ARGS = [
    "--image-shape",
    "8,8,3",
    "--sample-rate",
    "4000",
    "--duration",
    "0.05",
    "--seq-length",
    "12",
]
N = 5
SEED = 3
HINT = 'pip install "eqx-multimodal[files]"'


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A folder written by `eqx-multimodal export` (made once; copy it to change it)."""
    out = tmp_path_factory.mktemp("export") / "data"
    argv = ["export", "--num-samples", str(N), "--out", str(out), "--seed", str(SEED)]
    assert main([*argv, "--alignment", "0.7", "--batch-size", "2", "--quiet", *ARGS]) == 0
    return out


@pytest.fixture
def folder(exported, tmp_path):
    return shutil.copytree(exported, tmp_path / "copy")


def write_wave(path, values, *, rate=4000, channels=1, width=2):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(np.asarray(values, f"<i{width}").tobytes())


def test_export_then_load_gives_the_same_arrays(exported):
    expected = em.SyntheticDataset(CONFIG, N, key=jr.key(SEED))[:]
    dataset = em.load_paired_folder(exported)
    loaded = dataset[:]
    assert dataset.modalities == ("image", "text", "audio") and "latent" in loaded
    assert dataset.pairs == (("image", "text"), ("image", "audio"), ("text", "audio"))
    assert loaded["image"].dtype == jnp.float32 and loaded["audio"].dtype == jnp.float32
    np.testing.assert_array_equal(loaded["text"], expected["text"])
    np.testing.assert_array_equal(loaded["latent"], expected["latent"])
    np.testing.assert_array_equal(loaded["alignment_score"], jnp.full(N, 0.7, jnp.float32))
    # Half a quantisation step, and a little for float32 rounding.
    image_error = np.abs(np.asarray(loaded["image"]) - np.asarray(expected["image"])).max()
    audio_error = np.abs(np.asarray(loaded["audio"]) - np.asarray(expected["audio"])).max()
    assert 0 < image_error <= 0.5 / 255 + 1e-6
    assert 0 < audio_error <= 0.5 / 32767 + 1e-7
    assert float(loaded["image"].min()) >= 0 and float(loaded["image"].max()) <= 1


def test_export_layout(exported, capsys):
    assert sorted(p.name for p in exported.iterdir()) == [
        "audio",
        "image",
        "manifest.json",
        "text.jsonl",
    ]
    assert [p.name for p in sorted((exported / "image").iterdir())][-1] == "000004.png"
    with Image.open(exported / "image" / "000002.png") as image:
        assert image.mode == "RGB" and image.size == (8, 8)
    with wave.open(str(exported / "audio" / "000002.wav")) as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (
            1,
            2,
            4000,
            200,
        )
    lines = (exported / "text.jsonl").read_text().splitlines()
    assert len(lines) == N and len(json.loads(lines[1])["tokens"]) == 12
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["config"] == {**CONFIG.to_dict(), "alignment": 0.7}
    assert manifest["seed"] == SEED and manifest["sample_rate"] == 4000
    assert manifest["samples"][1]["image"] == "image/000001.png"
    assert leftover_partials(exported.parent) == []


def leftover_partials(parent):
    return [p.name for p in parent.iterdir() if p.name.endswith(".partial")]


def test_export_summary_and_text_only_export(tmp_path, monkeypatch, capsys):
    # Text alone needs no Pillow.
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    out = tmp_path / "text"
    assert main(["export", "--num-samples", "3", "--out", str(out), "--modalities", "text"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "text.jsonl"]
    printed = capsys.readouterr().out
    assert "3 samples in" in printed and "load_paired_folder(" in printed
    assert em.load_paired_folder(out)[:]["text"].shape == (3, 50)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--image-shape", "8,8,5"], "--image-shape: PNG holds 1 to 4 channels, got 5"),
        (["--out", "no/such/folder/data"], "--out folder 'no/such/folder' does not exist"),
        (["--num-samples", "0"], "`--num-samples` must be a positive integer, got 0"),
    ],
)
def test_export_errors_are_one_line(args, message, tmp_path, capsys):
    assert run(["export", "--out", str(tmp_path / "data"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_export_refuses_a_folder_in_use_and_missing_pillow(exported, tmp_path, monkeypatch, capsys):
    assert run(["export", "--out", str(exported), "--quiet"]) == 2
    assert "exists and is not an empty folder; choose a new folder" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    assert run(["export", "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err.strip()
    assert HINT in err and len(err.splitlines()) == 1
    assert not (tmp_path / "new").exists()


def test_save_and_load_your_own_arrays(tmp_path, getkey):
    data = {
        "image": jr.uniform(getkey(), (4, 6, 5, 1)),
        "audio": jr.uniform(getkey(), (4, 30), minval=-1.0, maxval=1.0),
        "text": jr.randint(getkey(), (4, 7), 0, 100),
    }
    alignments = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    path = em.save_paired_folder(
        tmp_path / "mine",
        data,
        sample_rate=8000,
        alignments=alignments,
        pairs=[("audio", "image")],
    )
    with Image.open(path / "image" / "000000.png") as image:
        assert image.mode == "L"
    dataset = em.load_paired_folder(path, image_shape=(6, 5, 1), sample_rate=8000)
    loaded = dataset[:]
    assert dataset.pairs == (("audio", "image"),) and "latent" not in loaded
    np.testing.assert_array_equal(loaded["alignment_score"], alignments)
    np.testing.assert_array_equal(loaded["text"], data["text"])
    np.testing.assert_allclose(loaded["image"], data["image"], atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(loaded["audio"], data["audio"], atol=0.5 / 32767 + 1e-7)


def test_a_folder_without_manifest_made_by_hand(tmp_path):
    """Ids are the file stems, in natural order; any PIL-readable image; PCM of any width."""
    (tmp_path / "image").mkdir()
    (tmp_path / "audio").mkdir()
    lines = []
    for i, name in enumerate(["1", "2", "10"]):
        palette = Image.new("P", (3, 2), color=i)
        palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
        palette.save(tmp_path / "image" / f"{name}.png")
        lines.append(json.dumps({"id": name, "tokens": [i, i + 1]}))
    write_wave(tmp_path / "audio" / "1.wav", [0, 32767, -32768], width=2)
    (tmp_path / "text.jsonl").write_text("\n".join(reversed(lines)) + "\n\n")
    with wave.open(str(tmp_path / "audio" / "10.wav"), "wb") as f:  # 24-bit
        f.setnchannels(1)
        f.setsampwidth(3)
        f.setframerate(4000)
        f.writeframes(bytes([0, 0, 0, 0xFF, 0xFF, 0x7F, 0x00, 0x00, 0x80]))
    with wave.open(str(tmp_path / "audio" / "2.wav"), "wb") as f:  # unsigned 8-bit
        f.setnchannels(1)
        f.setsampwidth(1)
        f.setframerate(4000)
        f.writeframes(bytes([128, 255, 1]))
    loaded = em.load_paired_folder(tmp_path)[:]
    np.testing.assert_array_equal(loaded["text"], [[0, 1], [1, 2], [2, 3]])
    assert loaded["image"].shape == (3, 2, 3, 3)
    np.testing.assert_array_equal(loaded["image"][:, 0, 0], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(loaded["audio"], [[0, 1, -1]] * 3)
    np.testing.assert_array_equal(loaded["alignment_score"], [1, 1, 1])


def _replace_image(size=(8, 8), mode="RGB"):
    def change(folder):
        Image.new(mode, size).save(folder / "image" / "000003.png")

    return change


def _edit_manifest(edit):
    def change(folder):
        manifest = json.loads((folder / "manifest.json").read_text())
        edit(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    return change


def _edit_text(line, text):
    def change(folder):
        lines = (folder / "text.jsonl").read_text().splitlines()
        if text is None:
            del lines[line]
        else:
            lines[line : line + 1] = [text]
        (folder / "text.jsonl").write_text("\n".join(lines) + "\n")

    return change


def _unlink(name):
    return lambda folder: (folder / name).unlink()


def _write(name, content):
    return lambda folder: (folder / name).write_bytes(content)


def _without_manifest(change):
    def both(folder):
        (folder / "manifest.json").unlink()
        change(folder)

    return both


LOAD_ERRORS = {
    "missing image": (_unlink("image/000002.png"), "image/000002.png: cannot read it as an image"),
    "unlisted image": (
        lambda f: shutil.copy(f / "image/000000.png", f / "image/extra.png"),
        "image/extra.png: not listed in manifest.json; add it to 'samples' or remove it",
    ),
    "unreadable image": (
        _write("image/000001.png", b"not a png"),
        "image/000001.png: cannot read it as an image",
    ),
    "image size": (
        _replace_image(size=(4, 8)),
        "image/000003.png: 8x4 with 3 channel(s), expected 8x8 with 3 channel(s) (manifest.json)",
    ),
    "image channels": (
        _replace_image(mode="L"),
        "image/000003.png: 8x8 with 1 channel(s), expected 8x8 with 3 channel(s)",
    ),
    "image mode": (
        _replace_image(mode="I;16"),
        # Pillow 10 reads a 16-bit PNG back as mode 'I', later versions as 'I;16'.
        "image/000003.png: image mode 'I",
    ),
    "sample rate": (
        lambda f: write_wave(f / "audio/000001.wav", np.zeros(200), rate=400),
        "audio/000001.wav: sample rate 400 Hz, expected 4000 Hz (manifest.json)",
    ),
    "audio length": (
        lambda f: write_wave(f / "audio/000004.wav", np.zeros(150)),
        "audio/000004.wav: 150 samples, expected 200 (audio/000000.wav)",
    ),
    "stereo": (
        lambda f: write_wave(f / "audio/000002.wav", np.zeros(400), channels=2),
        "audio/000002.wav: 2 channels; every audio file must be mono",
    ),
    "unreadable audio": (
        _write("audio/000000.wav", b"RIFF...."),
        "audio/000000.wav: cannot read it as a PCM WAV file",
    ),
    "missing text line": (_edit_text(4, None), "text.jsonl: no line for id '000004'"),
    "text not json": (_edit_text(1, "[1, 2"), "text.jsonl line 2: not JSON"),
    "text without id": (
        _edit_text(1, "[1, 2]"),
        'text.jsonl line 2: expected {"id": "...", "tokens"',
    ),
    "text length": (
        _edit_text(2, json.dumps({"id": "000002", "tokens": [1] * 11})),
        "text.jsonl line 3: 11 tokens, but the lines before have 12",
    ),
    "negative token": (
        _edit_text(0, json.dumps({"id": "000000", "tokens": [-1] * 12})),
        "text.jsonl line 1: 'tokens' must be a non-empty list of non-negative integers",
    ),
    "repeated text id": (
        _edit_text(1, json.dumps({"id": "000000", "tokens": [1] * 12})),
        "text.jsonl line 2: repeats the id '000000'",
    ),
    "unknown text id": (
        _edit_text(4, json.dumps({"id": "zzz", "tokens": [1] * 12})),
        "text.jsonl: no line for id '000004'",
    ),
    "extra text id": (
        _edit_text(5, json.dumps({"id": "zzz", "tokens": [1] * 12})),
        "text.jsonl: id 'zzz' is not a sample in manifest.json",
    ),
    "text file missing": (_unlink("text.jsonl"), "text.jsonl: missing, but manifest.json lists"),
    "manifest not json": (_write("manifest.json", b"{"), "manifest.json: cannot read it as JSON"),
    "manifest count": (
        _edit_manifest(lambda m: m.update(num_samples=6)),
        "manifest.json: 'num_samples' is 6 but 'samples' lists 5",
    ),
    "manifest modalities": (
        _edit_manifest(lambda m: m.update(modalities=["image", "smell"])),
        "manifest.json: 'modalities' must list some of",
    ),
    "manifest drops text": (
        _edit_manifest(lambda m: m.update(modalities=["image", "audio"])),
        "text.jsonl: present, but manifest.json lists no 'text' modality",
    ),
    "manifest repeated id": (
        _edit_manifest(lambda m: m["samples"][3].update(id="000001")),
        "manifest.json: samples[3] repeats the id '000001'",
    ),
    "manifest sample without image": (
        _edit_manifest(lambda m: m["samples"][2].pop("image")),
        "manifest.json: samples[2] (id '000002') names no image file",
    ),
    "manifest alignment": (
        _edit_manifest(lambda m: m["samples"][2].update(alignment=1.5)),
        "manifest.json: samples[2] has 'alignment' 1.5, which is not in [0, 1]",
    ),
    "manifest latent": (
        _edit_manifest(lambda m: m["samples"][1].pop("latent")),
        "manifest.json: every sample needs a 'latent'",
    ),
    "manifest version": (
        _edit_manifest(lambda m: m.update(version=2)),
        "manifest.json: format version 2; this release reads 1",
    ),
    "scan: missing audio": (
        _without_manifest(_unlink("audio/000002.wav")),
        "mismatched counts (5 image, 5 text, 4 audio): audio/ has nothing for id '000002', "
        "which image, text has",
    ),
    "scan: extra image": (
        _without_manifest(lambda f: shutil.copy(f / "image/000000.png", f / "image/000009.png")),
        "mismatched counts (6 image, 5 text, 5 audio): text.jsonl has nothing for id '000009'",
    ),
    "scan: two files of one id": (
        _without_manifest(lambda f: shutil.copy(f / "image/000000.png", f / "image/000000.jpg")),
        "image/000000.png: a second image file for id '000000'",
    ),
}


@pytest.mark.parametrize("case", sorted(LOAD_ERRORS))
def test_load_errors_name_the_file(case, folder):
    change, message = LOAD_ERRORS[case]
    change(folder)
    with pytest.raises(ValueError) as error:
        em.load_paired_folder(folder)
    assert message in str(error.value)


def test_load_errors_against_the_caller_expectations(folder):
    with pytest.raises(
        ValueError, match=r"sample rate 4000 Hz, expected 16000 Hz \(`sample_rate`\)"
    ):
        em.load_paired_folder(folder, sample_rate=16000)
    with pytest.raises(
        ValueError, match=r"image/000000.png: 8x8 with 3 channel\(s\), expected 32x32"
    ):
        em.load_paired_folder(folder, image_shape=(32, 32, 3))


def test_load_errors_for_what_is_not_a_paired_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        em.load_paired_folder(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="not a paired folder"):
        em.load_paired_folder(tmp_path)
    (tmp_path / "manifest.json").write_text('{"modalities": ["text"], "samples": []}')
    (tmp_path / "text.jsonl").write_text("")
    with pytest.raises(ValueError, match="holds no samples"):
        em.load_paired_folder(tmp_path)


def test_load_without_manifest_keeps_every_sample(folder):
    (folder / "manifest.json").unlink()
    dataset = em.load_paired_folder(folder)
    assert len(dataset) == N and dataset.modalities == ("image", "text", "audio")
    np.testing.assert_array_equal(dataset[:]["alignment_score"], np.ones(N, np.float32))


@pytest.mark.parametrize(
    "data,kwargs,message",
    [
        (
            {"image": np.full((2, 4, 4, 3), 1.5)},
            {},
            r"in \[0, 1\] to be saved, got values in \[1.5, 1.5\] in sample 0",
        ),
        ({"audio": np.zeros((2, 10))}, {}, "`sample_rate` is required to write audio"),
        ({"image": np.zeros((2, 4, 4, 5))}, {}, "with 1 to 4 channels"),
        ({"text": np.zeros((2, 3))}, {}, "must be integer tokens"),
        (
            {"text": np.array([[0, 1], [2, -3]])},
            {},
            r"tokens must be in \[0, 2\*\*31\), got -3 in sample 1",
        ),
        (
            {"text": np.zeros((2, 3), np.int32)},
            {"alignments": np.array([0.5, 2.0])},
            "`alignments` must be 2 scores in",
        ),
        ({"smell": np.zeros((2, 3))}, {}, "`modalities` must be a non-empty selection"),
    ],
)
def test_save_errors(data, kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        em.save_paired_folder(tmp_path / "x", data, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("")
    with pytest.raises(FileExistsError, match="is not an empty folder; choose a new folder"):
        em.save_paired_folder(tmp_path / "taken", {"text": np.zeros((1, 2), np.int32)})
    with pytest.raises(ValueError, match="in sample 3"):
        with PairedFolderWriter(tmp_path / "new", modalities=["audio"], sample_rate=8) as writer:
            writer.write({"audio": np.zeros((3, 4))})
            writer.write({"audio": np.full((2, 4), 2.0)})
    with pytest.raises(
        ValueError, match=r"samples of shape \(5,\), but the samples written before have \(4,\)"
    ):
        with PairedFolderWriter(tmp_path / "new", modalities=["audio"], sample_rate=8) as writer:
            writer.write({"audio": np.zeros((3, 4))})
            writer.write({"audio": np.zeros((3, 5))})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    # An empty folder is fine to write into.
    (tmp_path / "empty").mkdir()
    em.save_paired_folder(tmp_path / "empty", {"text": np.zeros((1, 2), np.int32)})
    assert len(em.load_paired_folder(tmp_path / "empty")) == 1

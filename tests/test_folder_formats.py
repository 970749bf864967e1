"""A folder's way of storing a modality is a value named by its format (`Modality.storage`):
the built-ins are three registrations with formats attached, a modality registered here
picks one of those formats (depth maps as PNG images, a second caption modality in its own
JSON-lines file), and the folders written before the formats were values keep their bytes
and their fingerprints (a run recorded before resumes)."""

import hashlib
import json
import pathlib
import pickle

import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.data import JsonLines, ModalityFiles, PNGImages, WavClips
from eqx_multimodal.data._formats import storage_of
from eqx_multimodal.data._text import ByteTokenizer
from eqx_multimodal.modalities._registry import _forget


@pytest.fixture(scope="module")
def depth():
    modality = em.register_modality(
        em.Modality("png_depth", shape=(None, None, 1), storage=PNGImages())
    )
    yield modality
    _forget("png_depth")


@pytest.fixture(scope="module")
def caption():
    modality = em.register_modality(
        em.Modality("caption", shape=(None,), dtype="int32", storage=JsonLines())
    )
    yield modality
    _forget("caption")


def _levels(rng, shape, scale=255):
    """Values a file format keeps exactly (its levels)."""
    return (np.round(rng.uniform(size=shape) * scale) / scale).astype(np.float32)


def test_the_built_ins_are_registrations_with_formats():
    assert em.get_modality("image").storage == PNGImages(spec_fields=True)
    assert em.get_modality("text").storage == JsonLines("text.jsonl", spec_fields=True)
    assert em.get_modality("audio").storage == WavClips()
    assert em.get_modality("image").file_name("7") == "image/7.png"
    # a modality that names no storage is kept in its own files
    probe = em.Modality("probe_x", shape=(2,), suffix=".npy", read=np.load, write=np.save)
    assert storage_of(probe) == ModalityFiles() and probe.file_name("7") == "probe_x/7.npy"
    with pytest.raises(TypeError, match="storage"):  # a folder format, or None
        em.Modality("probe_x", shape=(2,), storage="png")  # type: ignore[arg-type]


def test_a_modality_of_yours_stored_as_png_images_round_trips(depth, tmp_path):
    rng = np.random.default_rng(0)
    data = {"image": _levels(rng, (4, 6, 5, 3)), "png_depth": _levels(rng, (4, 3, 2, 1))}
    path = em.save_paired_folder(tmp_path / "f", data, labels=list("abab"))
    assert sorted(p.name for p in (path / "png_depth").iterdir())[0] == "000000.png"
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["image_shape"] == [6, 5, 3] and manifest["shapes"] == {"png_depth": [3, 2, 1]}
    assert manifest["samples"][1]["png_depth"] == "png_depth/000001.png"
    folder = em.PairedFolder(path)
    assert folder.modalities == ("image", "png_depth")
    assert folder.spec.image_shape == (6, 5, 3) and folder.spec.shape("png_depth") == (3, 2, 1)
    assert folder.image_shape == (6, 5, 3) and folder.shapes == {"png_depth": (3, 2, 1)}
    np.testing.assert_array_equal(folder.read(2)["png_depth"], data["png_depth"][2])
    again = pickle.loads(pickle.dumps(folder))  # grain's workers read it
    np.testing.assert_array_equal(again.read(3)["png_depth"], data["png_depth"][3])
    np.testing.assert_array_equal(folder.subset([3, 0]).read(0)["png_depth"], data["png_depth"][3])
    loaded = em.load_paired_folder(path)
    np.testing.assert_array_equal(np.asarray(loaded.data["png_depth"]), data["png_depth"])
    np.testing.assert_array_equal(np.asarray(loaded.data["image"]), data["image"])
    assert loaded.spec == folder.spec
    # without a manifest its files are found by its name
    (path / "manifest.json").unlink()
    scanned = em.PairedFolder(path)
    assert scanned.modalities == ("image", "png_depth") and scanned.shapes == {
        "png_depth": (3, 2, 1)
    }
    np.testing.assert_array_equal(scanned.read(1)["png_depth"], data["png_depth"][1])
    # a depth map of another size is named, as an image of another size is
    (path / "png_depth" / "000002.png").unlink()
    em.save_paired_folder(tmp_path / "g", {"png_depth": np.zeros((1, 4, 4, 1))})
    (tmp_path / "g" / "png_depth" / "000000.png").rename(path / "png_depth" / "000002.png")
    with pytest.raises(ValueError, match="png_depth/000002.png: 4x4 with 1 channel"):
        em.PairedFolder(path)


def test_a_second_caption_modality_keeps_its_own_json_lines(caption, tmp_path):
    rng = np.random.default_rng(1)
    tokens = rng.integers(3, 40, size=(3, 5))
    captions = np.array(["a cat", "two dogs", "a bird"])
    data = {"text": tokens, "caption": captions}
    path = em.save_paired_folder(tmp_path / "f", data)
    assert sorted(p.name for p in path.iterdir()) == [
        "caption.jsonl",
        "manifest.json",
        "text.jsonl",
    ]
    first = json.loads((path / "caption.jsonl").read_text().splitlines()[0])
    assert first == {"id": "000000", "caption": "a cat"}
    # a run refuses a folder that holds it, as it refuses one with text.jsonl
    from eqx_multimodal.training._folder import data_files

    assert data_files(path)[:3] == ["manifest.json", "text.jsonl", "caption.jsonl"]
    (path / "manifest.json").rename(path / "kept.json")
    (path / "text.jsonl").rename(path / "kept.jsonl")
    assert data_files(path) == ["caption.jsonl"]
    (path / "kept.json").rename(path / "manifest.json")
    (path / "kept.jsonl").rename(path / "text.jsonl")
    folder = em.PairedFolder(path)
    assert folder.modalities == ("text", "caption")
    np.testing.assert_array_equal(folder.read(1)["text"], tokens[1])
    tokenizer = ByteTokenizer(max_length=len("two dogs") + 2)
    np.testing.assert_array_equal(folder.read(1)["caption"], tokenizer.encode("two dogs")[0])
    assert folder.spec.shape("caption") == (10,) and folder.tokenizer is None  # text's own
    assert folder.counts() == {"text": 3, "caption": 3, "truncated caption": 0}
    loaded = em.load_paired_folder(path)
    np.testing.assert_array_equal(np.asarray(loaded.data["caption"])[2], folder.read(2)["caption"])
    # its file is the folder's, as text's is: a line for a sample no one lists is refused
    with (path / "caption.jsonl").open("a") as f:
        f.write(json.dumps({"id": "zzz", "caption": "x"}) + "\n")
    with pytest.raises(ValueError, match="caption.jsonl: id 'zzz' is not a sample"):
        em.PairedFolder(path)


# --- the folders written before the formats were values ----------------------------------

#: Computed with the code of main at 7b41866 (before `Modality.storage`), by this file's
#: `_old_folders` and `PairedFolder(...).fingerprint()` with the folders' path resolved to
#: FIXED_PATH: the digests a run records and compares when it resumes.
FIXED_PATH = "/data/fingerprint-folder"
OLD_FINGERPRINTS = {
    "a": "579e63de6c201cea",
    "a_subset": "35c8aa115f1cbdc4",
    "a_len": "9b9d2a77c48ac264",
    "b": "c3d9c6b66c2e0dbb",
    "b_tok": "74221e09f80bbaf6",
}
#: The first 12 hex digits of the SHA-1 of the files main's writer wrote for them.
OLD_FILES = {
    "a/audio/000000.wav": "a1a584ea9484",
    "a/image/000000.png": "a661d9ad1a59",
    "a/manifest.json": "a92a17fd6456",
    "a/text.jsonl": "cd08d82abaee",
    "b/image/000000.png": "ac0d18c0a9a2",
    "b/manifest.json": "47d8f1d29ffd",
    "b/text.jsonl": "fa4a7dc83678",
}


def _old_folders(root):
    rng = np.random.default_rng(0)
    n = 5
    data = {
        "image": np.round(rng.uniform(size=(n, 4, 6, 3)) * 255) / 255,
        "text": rng.integers(3, 50, size=(n, 7)),
        "audio": np.round(rng.uniform(-1, 1, size=(n, 32)) * 32767) / 32767,
    }
    a = em.save_paired_folder(
        root / "a", data, sample_rate=8000, labels=list("ababa"), alignments=np.linspace(0, 1, n)
    )
    captions = {"text": np.array(["one", "two words", "three"]), "image": np.zeros((3, 5, 5, 1))}
    b = em.save_paired_folder(root / "b", captions)
    return a, b


def test_old_folders_keep_their_bytes_and_fingerprints(tmp_path, monkeypatch):
    a, b = _old_folders(tmp_path)
    for name, digest in OLD_FILES.items():
        assert hashlib.sha1((tmp_path / name).read_bytes()).hexdigest()[:12] == digest, name
    folders = {
        "a": em.PairedFolder(a),
        "a_subset": em.PairedFolder(a).subset([3, 1]),
        "a_len": em.PairedFolder(a, audio_length=20),
        "b": em.PairedFolder(b),
        "b_tok": em.PairedFolder(
            b, tokenizer=ByteTokenizer(max_length=6), image_shape=(3, 3, 3), resize=True
        ),
    }
    fixed = pathlib.PurePosixPath(FIXED_PATH)
    with monkeypatch.context() as patch:  # the digest starts with the folder's path
        patch.setattr(pathlib.PosixPath, "resolve", lambda self, strict=False: fixed)
        found = {name: folder.fingerprint() for name, folder in folders.items()}
    assert found == OLD_FINGERPRINTS
    assert em.PairedFolder(b).options() == {
        "image_shape": [5, 5, 1],
        "resize": False,
        "sample_rate": None,
        "resample": False,
        "audio_length": None,
        "tokenizer": {"kind": "bytes", "max_length": 11},
        "allow_missing": False,
    }

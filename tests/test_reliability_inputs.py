"""Issue 25: one writer a run folder, one strict JSON reader, one guard on sizes, and
errors that blame the right thing. Each test failed before its fix; all are fast."""

import errno
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import wave
import zlib

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal._io import (
    FolderInUse,
    hold_folder,
    json_lines,
    loads,
    LOCK,
    read_json,
    write_atomic,
)
from eqx_multimodal.nn import AttentionFusion
from eqx_multimodal.training import CheckpointError, fit, load_checkpoint, prepare_run_folder

from .helpers import run_cli
from .test_reliability import one_line, tiny, TINY_ARGS


# --- helpers ---------------------------------------------------------------------------


def image_text_folder(path, n=3, size=4):
    return em.save_paired_folder(
        path, {"image": np.zeros((n, size, size, 1)), "text": np.ones((n, 3), int)}
    )


def audio_folder(path, n=3, samples=200):
    return em.save_paired_folder(path, {"audio": np.zeros((n, samples))}, sample_rate=4000)


def write_wav(path, frames, *, keep_bytes=None):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(4000)
        f.writeframes(np.zeros(frames, "<i2").tobytes())
    if keep_bytes is not None:  # a header that claims more than the file holds
        data = path.read_bytes()
        path.write_bytes(data[:keep_bytes])


def edit_manifest(folder, change):
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def fake_run(out, *, extra=()):
    """A run's folder as `fit` leaves it (without training): its files, and more."""
    (out / "checkpoints").mkdir(parents=True)
    for name in ("config.json", "evaluation.json", "data.json"):
        (out / name).write_text("{}")
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    (out / "report.png").write_bytes(b"png")
    (out / "checkpoints" / "step-0000002.eqx").write_bytes(b"state")
    record = {"file": "checkpoints/step-0000002.eqx", "step": 2, "sha256": "0"}
    index = {"format": 2, "latest": record, "best": None, "kept": [record]}
    (out / "checkpoint.json").write_text(json.dumps(index))
    for name in extra:
        path = out / name
        if name.endswith("/"):
            path.mkdir(parents=True)
            (path / "kept.txt").write_text("mine")
        else:
            path.write_text("mine")
    return out


# --- data loss: the API refuses a run folder, overwrite removes only the run's files ----


def test_fit_refuses_a_folder_that_holds_a_run(tmp_path):
    out = fake_run(tmp_path / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match=r"holds a run \(checkpoint.json, checkpoints, config"):
        fit(tiny(steps=2), out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not (out / LOCK).exists()  # released on the way out
    with pytest.raises(ValueError, match="`resume=True` and `overwrite=True` contradict"):
        fit(tiny(steps=2), out, resume=True, overwrite=True, progress=False)


def test_overwrite_removes_only_what_a_run_writes(tmp_path):
    user = ("notes.txt", "checkpoints/mine.eqx", "checkpoints/mine/", "checkpoints/step-1.eqx")
    out = fake_run(tmp_path / "run", extra=user)
    (out / "checkpoints" / ".step-0000003.eqx.ab12cd_3.tmp").write_bytes(b"half")
    prepare_run_folder(out, resume=False, overwrite=True)
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == [
        "checkpoints",
        "checkpoints/mine",
        "checkpoints/mine.eqx",
        "checkpoints/mine/kept.txt",
        "checkpoints/step-1.eqx",
        "notes.txt",
    ]


def test_overwrite_refuses_a_folder_that_is_no_run(tmp_path):
    out = tmp_path / "home"
    out.mkdir()
    (out / "config.json").write_text('{"mine": 1}')  # a user's own config.json
    with pytest.raises(ValueError, match="holds config.json but no run"):
        prepare_run_folder(out, resume=False, overwrite=True)
    assert (out / "config.json").read_text() == '{"mine": 1}'


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_data_folder_is_never_a_run_folder(tmp_path, capsys, overwrite):
    data = image_text_folder(tmp_path / "data")
    before = sorted(p.name for p in data.rglob("*"))
    flags = ["--overwrite"] if overwrite else []
    assert run_cli(["train", "--steps", "1", "--out", str(data), *flags, *TINY_ARGS]) == 2
    assert "holds a paired folder (manifest.json, text.jsonl, image)" in one_line(capsys)
    assert sorted(p.name for p in data.rglob("*")) == before
    args = ["train", "--data", str(data), "--out", str(data), *flags, "--quiet"]
    assert run_cli(args) == 2
    assert "is the --data folder" in one_line(capsys)


@pytest.mark.slow
def test_fit_overwrite_leaves_nothing_of_the_old_run(tmp_path):
    out = tmp_path / "run"
    fit(tiny(steps=3, checkpoint_every=1, keep=5), out, progress=False)
    (out / "evaluation.json").write_text("{}")
    (out / "report.png").write_bytes(b"old")
    fit(tiny(steps=1), out, overwrite=True, progress=False)
    index = json.loads((out / "checkpoint.json").read_text())
    assert [r["step"] for r in index["kept"]] == [1]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000001.eqx"]
    assert not (out / "evaluation.json").exists() and not (out / "report.png").exists()


# --- one writer a run folder -----------------------------------------------------------

HOLD = (
    "import sys, time; from eqx_multimodal._io import hold_folder\n"
    "with hold_folder(sys.argv[1]):\n"
    "    print('held', flush=True); time.sleep(60)\n"
)


@pytest.fixture
def held(tmp_path):
    """A run folder whose lock another process holds."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "held"
    yield out, proc.pid
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_a_second_writer_is_refused_with_the_holder_named(held, capsys):
    out, pid = held
    holder = f"process {pid} on host {socket.gethostname()}"
    with pytest.raises(FolderInUse, match=holder):
        fit(tiny(steps=2), out, progress=False)
    assert run_cli(["train", "--steps", "1", "--out", str(out), *TINY_ARGS]) == 2
    assert holder in one_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == [LOCK]  # nothing written


def test_a_stale_lock_is_taken_over_and_a_lock_is_released(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"pid": dead.pid, "host": socket.gethostname(), "since": time.time()}
    (out / LOCK).write_text(json.dumps(stale))
    with hold_folder(out):
        assert json.loads((out / LOCK).read_text())["pid"] == os.getpid()
        with hold_folder(out):  # re-entrant: `fit` inside the command line's hold
            pass
        assert (out / LOCK).exists()
    assert not (out / LOCK).exists()
    # A lock of another host cannot be checked from here: refused.
    (out / LOCK).write_text(json.dumps({**stale, "host": "elsewhere", "pid": 1}))
    with pytest.raises(FolderInUse, match="process 1 on host elsewhere"):
        with hold_folder(out):
            pass


# --- strict JSON, for every JSON the package reads ---------------------------------------


@pytest.mark.parametrize(
    "text,problem",
    [
        ('{"a": NaN}', "line 1: NaN is not a JSON number"),
        ('{"a": [1, Infinity]}', "Infinity is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e999}', "1e999 is too large for a number"),
        ('{\n"s": [\n{"id": "1", "text": "a", "text": "b"}]}', "line 3: an object repeats the key"),
        ("[" * 100_000, "line 1: nested more than 32 deep"),
        ("[" * 40 + "]" * 40, "nested more than 32 deep"),
        ("[1, 2]", "expected a JSON object, got a JSON array"),
        ('{"a": ', "line 1: Expecting value"),
    ],
)
def test_json_is_strict(tmp_path, text, problem):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        read_json(path, "x.json")
    message = str(error.value)
    assert message.startswith("x.json: cannot read it as JSON") and problem in message
    assert len(message.splitlines()) == 1


def test_json_lines_name_their_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a", "id": "b"}\n{"id": "c"}\n')
    with pytest.raises(ValueError, match=r"^x.jsonl line 1: not JSON \(an object repeats"):
        json_lines(path, "x.jsonl")
    assert loads('{"a": 1.5}', "x") == {"a": 1.5}


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda m: m.update(version=float("nan")), "NaN is not a JSON number"),
        (lambda m: m["samples"][0].update(alignment=float("inf")), "Infinity is not a JSON"),
    ],
)
def test_manifest_is_strict(tmp_path, change, message):
    folder = image_text_folder(tmp_path / "f")
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))  # json writes NaN
    with pytest.raises(ValueError, match=f"manifest.json: cannot read it as JSON.*{message}"):
        em.PairedFolder(folder)


def test_manifest_duplicate_keys_deep_nesting_and_link_loops(tmp_path):
    folder = image_text_folder(tmp_path / "f")
    text = (folder / "manifest.json").read_text()
    (folder / "manifest.json").write_text(text.replace('"id": "000001"', '"id": "1", "id": "2"'))
    with pytest.raises(ValueError, match="an object repeats the key 'id'"):
        em.PairedFolder(folder)
    (folder / "manifest.json").write_text("[" * 100_000)
    with pytest.raises(ValueError, match="manifest.json: cannot read it as JSON .*nested"):
        em.PairedFolder(folder)
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").symlink_to(folder / "manifest.json")  # a loop, not "none"
    with pytest.raises(ValueError, match="manifest.json.*loop of symbolic links"):
        em.PairedFolder(folder)


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"id": "000000", "id": "000001", "tokens": [1, 1, 1]}', "line 1: not JSON (an object"),
        ('{"id": "000000", "tokens": [1, NaN, 1]}', "line 1: not JSON (NaN"),
        ('{"id": "000000", "tokens": [1, 1, 1], "text": "a"}', "line 1: has both 'text' and"),
        ('{"id": "", "tokens": [1, 1, 1]}', "line 1: the id must be a non-empty string"),
        ('{"id": "000000", "tokens": [1, 2147483647, 1]}', "token 2,147,483,647 is above"),
        ('{"id": "000000", "tokens": [1, 1180591620717411303424]}', "token 1,180,591,620,717"),
        ('{"id": "000000", "tokens": [-1, 1, 1]}', "non-negative integers, got -1"),
        ('{"id": "000000", "tokens": ' + json.dumps([1] * 5000) + "}", "5,000 tokens, more"),
    ],
)
def test_text_lines_are_strict_and_bounded(tmp_path, line, message):
    folder = image_text_folder(tmp_path / "f")
    lines = (folder / "text.jsonl").read_text().splitlines()
    (folder / "text.jsonl").write_text("\n".join([line, *lines[1:]]) + "\n")
    with pytest.raises(ValueError) as error:
        em.PairedFolder(folder)
    assert f"text.jsonl {message}" in str(error.value) or message in str(error.value)
    assert str(error.value).startswith("text.jsonl line 1")


def test_run_files_are_read_strictly(tmp_path):
    out = fake_run(tmp_path / "run")
    index = json.loads((out / "checkpoint.json").read_text())
    index["latest"]["step"] = float("nan")
    (out / "checkpoint.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="checkpoint.json: cannot read it as JSON.*NaN"):
        load_checkpoint(out, None)
    (out / "config.json").write_text('{"steps": 3, "steps": 4}')
    with pytest.raises(ValueError, match="config.json: cannot read it as JSON.*repeats the key"):
        em.training.TrainConfig.from_json((out / "config.json").read_text())


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "config.json"])
def test_a_checkpoint_index_names_only_its_own_checkpoints(tmp_path, name):
    out = fake_run(tmp_path / "run")
    index = json.loads((out / "checkpoint.json").read_text())
    index["latest"]["file"] = name
    (out / "checkpoint.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="names the file .*; a checkpoint is checkpoints/"):
        load_checkpoint(out, None)


# --- sizes: one guard ------------------------------------------------------------------


def test_a_huge_caption_is_cut_and_counted(tmp_path):
    folder = image_text_folder(tmp_path / "f")
    lines = [
        json.dumps({"id": f"{i:06d}", "text": "x" * (1_000_000 if i == 1 else 5)}) for i in range(3)
    ]
    (folder / "text.jsonl").write_text("\n".join(lines) + "\n")
    opened = em.PairedFolder(folder)
    assert opened.spec.seq_length == 512 and opened.counts()["truncated captions"] == 1


def _png_claiming(width, height):
    """A PNG whose header claims `width` x `height` pixels (and holds almost nothing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + (chunk(b"IEND", b""))
    )


def _noise_png():
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (4, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _animated_png():
    from PIL import Image

    frames = [Image.new("L", (4, 4), value) for value in (0, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content,message",
    [
        (lambda png: _png_claiming(60000, 60000), "than the 67,108,864 an image may have"),
        (lambda png: _png_claiming(9000, 9000), "9000x9000 pixels, more than the 67,108,864"),
        (lambda png: _noise_png()[:-16], "cannot read it as an image"),  # header intact
        (lambda png: _animated_png(), "an animated image (2 frames)"),
    ],
)
def test_images_are_checked_whole_before_use(tmp_path, content, message):
    folder = image_text_folder(tmp_path / "f", n=30)
    # Sample 29 may fall in any split: opening the folder (as `train` does) checks it.
    path = folder / "image" / "000029.png"
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(ValueError) as error:
        em.PairedFolder(folder)
    assert str(error.value).startswith("image/000029.png: ") and message in str(error.value)


def test_an_image_that_links_to_itself_is_named(tmp_path):
    folder = image_text_folder(tmp_path / "f")
    path = folder / "image" / "000001.png"
    path.unlink()
    path.symlink_to(path)
    with pytest.raises(ValueError, match="000001.png.*loop of symbolic links"):
        em.PairedFolder(folder)


# --- WAV errors name the bad file --------------------------------------------------------


@pytest.mark.parametrize(
    "frames,keep,message",
    [
        (0, None, "audio/000000.wav: holds no audio (0 frames)"),
        (1, None, "audio/000000.wav: 1 samples, expected 200 (audio/000001.wav)"),
        (150, None, "audio/000000.wav: 150 samples, expected 200 (audio/000001.wav)"),
        (200, 44 + 200, "audio/000000.wav: truncated (its header says 200 frames"),
    ],
)
def test_wav_errors_name_the_bad_file(tmp_path, frames, keep, message):
    folder = audio_folder(tmp_path / "a")
    write_wav(folder / "audio" / "000000.wav", frames, keep_bytes=keep)
    with pytest.raises(ValueError) as error:
        em.PairedFolder(folder)
    assert str(error.value).startswith(message)


# --- smaller inputs ------------------------------------------------------------------------


def test_manifest_ids_and_keys(tmp_path):
    folder = image_text_folder(tmp_path / "f")
    edit_manifest(folder, lambda m: m["samples"][0].update(video="video/000000.mp4"))
    with pytest.raises(ValueError, match=r"samples\[0\] .* names the file 'video/000000.mp4'"):
        em.PairedFolder(folder)
    folder = image_text_folder(tmp_path / "g")
    edit_manifest(folder, lambda m: m["samples"][0].update(source={"voice": "en"}))
    assert len(em.PairedFolder(folder)) == 3  # more entries are fine
    edit_manifest(folder, lambda m: m["samples"][0].update(id=""))
    with pytest.raises(ValueError, match=r"samples\[0\]: the id must be a non-empty string"):
        em.PairedFolder(folder)


@pytest.mark.parametrize(
    "indices,error,message",
    [
        ([0.5], TypeError, "integer positions, got float64"),
        ([True, False], TypeError, "got booleans"),
        ("01", TypeError, "list or array of integer positions"),
        ([3], IndexError, r"in \[0, 3\)"),
    ],
)
def test_subset_takes_integer_positions_only(
    tmp_path, indices, error, message, without_runtime_typecheck
):
    folder = em.PairedFolder(image_text_folder(tmp_path / "f"))
    dataset = em.PairedDataset({"text": np.ones((3, 2), int)})
    for data in (folder, dataset):
        with without_runtime_typecheck(), pytest.raises(error, match=message):
            data.subset(indices)
    assert folder.subset(np.array([2, 0], np.int32)).ids == ("000002", "000000")


def test_split_ids_are_distinct_strings(without_runtime_typecheck):
    with pytest.raises(ValueError, match="'a' repeats"):
        em.split_indices(["a", "a"])
    with without_runtime_typecheck():
        with pytest.raises(TypeError, match="must be a list of sample ids"):
            em.split_indices("abc")
        with pytest.raises(TypeError, match="must hold strings, got 1"):
            em.split_indices([1, 2])


def test_fusion_refuses_a_float_mask(without_runtime_typecheck):
    fusion = AttentionFusion(8, 2, 3, key=jr.key(0))
    with without_runtime_typecheck():
        with pytest.raises(TypeError, match="`present` must hold booleans.*float32"):
            fusion(jnp.zeros((3, 8)), jnp.asarray([1.0, 0.5, 0.0]))
    assert fusion(jnp.zeros((3, 8)), jnp.asarray([True, False, True])).shape == (8,)


# --- the command line: one line, naming the right option ------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (["--steps", str(2**64)], "`--steps` must be at most 2,147,483,647"),
        (["--split-seed", "-1"], "`--split-seed` must be an integer >= 0"),
        (["--split-seed", str(2**64)], "`--split-seed` must be at most"),
        (["--coordinator", "nothost:99999", "--num-processes", "2", "--process-id", "1"],
         "the port must be in [1, 65535], got 99999"),
        (["--coordinator", "nothost.invalid:80", "--num-processes", "2", "--process-id", "1"],
         "the host 'nothost.invalid' does not resolve"),
    ],
)  # fmt: skip
def test_train_options_out_of_range(tmp_path, capsys, args, message):
    assert run_cli(["train", "--out", str(tmp_path / "run"), *TINY_ARGS, *args]) == 2
    assert message in one_line(capsys)
    assert not (tmp_path / "run").exists()


def test_resize_to_an_impossible_channel_count(tmp_path, capsys):
    data = image_text_folder(tmp_path / "data")
    args = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--quiet"]
    assert run_cli([*args, "--resize", "8,8,5"]) == 2
    assert "`--resize`: an image has 1 to 4 channels" in one_line(capsys)


@pytest.mark.parametrize("command", ["train", "export", "digits"])
def test_an_empty_out_is_a_usage_error(capsys, command):
    assert run_cli([command, "--out", ""]) == 2
    assert "--out: expected a folder, got ''" in one_line(capsys)


def test_a_coordinator_that_never_answers_times_out():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"nothing answered at the coordinator .*:{port}"):
        em.distributed.initialize_distributed(f"127.0.0.1:{port}", 2, 1, timeout=1)


def test_disk_full_names_the_folder(tmp_path):
    class Full(io.BytesIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    tree = {"a": jnp.ones(3)}
    with pytest.raises(OSError, match=f"^\\[Errno 28\\] no space left on {tmp_path}$"):
        # Equinox wraps the OSError in its TreePathError: it is found in the chain.
        write_atomic(tmp_path / "x.eqx", lambda f: eqx.tree_serialise_leaves(Full(), tree))
    assert list(tmp_path.iterdir()) == []


def test_a_split_of_a_run_without_data_json_says_why(tmp_path):
    from types import SimpleNamespace

    from eqx_multimodal.cli._data_options import run_folder
    from eqx_multimodal.cli._errors import CommandError

    data = image_text_folder(tmp_path / "data")
    config = SimpleNamespace(spec=em.PairedFolder(data).spec, synthetic=False)
    (tmp_path / "run").mkdir()
    with pytest.raises(CommandError, match="it has no data.json, which records the split"):
        run_folder(tmp_path / "run", config, data, "test")


def test_only_the_packages_own_refusals_are_usage_errors(monkeypatch, tmp_path, capsys):
    from eqx_multimodal.cli import _generate

    def bug(args):
        return np.zeros(3).reshape(2)  # a ValueError of NumPy's: a bug, not bad input

    monkeypatch.setattr(_generate, "run", bug)
    argv = ["generate", "--out", str(tmp_path / "d.npz")]
    assert run_cli(argv) == 1
    err = one_line(capsys)
    assert "internal error, a bug in eqx-multimodal: ValueError: cannot reshape" in err
    assert "--traceback" in err
    assert run_cli([*argv, "--traceback"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "reshape" in err

    def refusal(args):
        em.split_indices("abc")

    monkeypatch.setattr(_generate, "run", refusal)
    assert run_cli(argv) == 2
    assert "error: `ids` must be a list of sample ids" in one_line(capsys)
    monkeypatch.setattr(_generate, "run", lambda args: {}["key"])  # a KeyError: a bug
    assert run_cli(argv) == 1
    assert "a bug in eqx-multimodal: KeyError: 'key'" in one_line(capsys)


def test_subpackages_are_reachable_from_the_top():
    code = (
        "import sys, eqx_multimodal as em\n"
        "assert 'eqx_multimodal.training' not in sys.modules\n"
        "assert callable(em.training.fit) and callable(em.viz.training_report)\n"
        "assert 'eqx_multimodal.nnx' not in sys.modules\n"
        "assert 'training' in dir(em)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_train_on_a_full_disk_says_so(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "run"
    assert run_cli(["train", "--steps", "1", "--out", str(out), *TINY_ARGS]) == 1
    assert one_line(capsys) == f"eqx-multimodal train: error: no space left on {out}"


@pytest.mark.parametrize("rate", ["4000", -1, 0.5])
def test_a_manifest_sample_rate_is_a_positive_integer(tmp_path, rate):
    folder = audio_folder(tmp_path / "a")
    edit_manifest(folder, lambda m: m.update(sample_rate=rate))
    with pytest.raises(ValueError, match="manifest.json: 'sample_rate' must be a positive integer"):
        em.PairedFolder(folder)


def test_fit_into_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("mine")
    with pytest.raises(ValueError, match="'.*run' is a file, not a folder"):
        fit(tiny(steps=2), tmp_path / "run", progress=False)
    assert (tmp_path / "run").read_text() == "mine"

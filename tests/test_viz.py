import sys

import jax.random as jr
import numpy as np
import pytest
from PIL import Image

import eqx_multimodal as em
from eqx_multimodal.cli import main
from eqx_multimodal.viz import alignment_figure, alignment_sweep, preview_figure, training_report

from .helpers import run_cli as run


SMALL = em.SyntheticConfig(image_shape=(8, 8, 3), sample_rate=4000, duration=0.05)
SMALL_ARGS = ["--image-shape", "8,8,3", "--sample-rate", "4000", "--duration", "0.05"]
HINT = 'pip install "eqx-multimodal[viz]"'


def assert_drawn(path, width, height, *, ink=0.01):
    """The PNG is `width` x `height` pixels, and more than `ink` of it is not white.

    A white figure with nothing but a title has about 0.3% ink and a pixel std of 7.
    """
    with Image.open(path) as image:
        assert image.size == (width, height)
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 10
    assert np.mean(np.abs(pixels - 255).max(axis=-1) > 30) > ink


def test_preview_figure_has_a_column_per_alignment(tmp_path):
    path = tmp_path / "preview.png"
    figure = preview_figure([0.0, 0.5, 1.0], key=jr.key(0), config=SMALL, path=path, dpi=50)
    # 1.2 + 2.1 * 3 columns inches wide, 0.7 + 1.7 * 4 rows inches tall, at 50 dpi.
    assert_drawn(path, 375, 375, ink=0.2)
    axes = np.asarray(figure.axes).reshape(4, 3)
    assert [ax.get_title() for ax in axes[0]] == ["alignment 0", "alignment 0.5", "alignment 1"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == [
        "image",
        "spectrogram (Hz)",
        "waveform, first 20 ms",
        "tokens per owned token",
    ]
    # At alignment 1 the image is the noise-free pattern, the same in every channel.
    images = [np.asarray(ax.get_images()[0].get_array()) for ax in axes[0]]
    assert np.ptp(images[2], axis=-1).max() < 1e-6
    assert np.ptp(images[0], axis=-1).max() > 0.1
    # The expected token counts, dimensions sorted by their latent value: flat at
    # alignment 0, rising at alignment 1 (so every column shares one latent).
    flat, rising = (axes[3, c].lines[0].get_ydata() for c in (0, 2))
    assert np.ptp(flat) < 1e-9
    assert np.all(np.diff(rising) >= -1e-12) and rising[-1] > 2 * rising[0]
    # Each panel but the waveform is labelled with its measured dependence.
    labels = [t.get_text() for ax in axes[[0, 1, 3], 2] for t in ax.texts]
    assert labels[:2] == ["r = 1.00", "r = 1.00"] and labels[2].startswith("r = ")


@pytest.mark.parametrize(
    "modalities,rows",
    [
        (["text"], ["tokens per owned token"]),
        (["audio"], ["spectrogram (Hz)", "waveform, first 20 ms"]),
    ],
)
def test_preview_rows_follow_the_modalities(modalities, rows):
    config = SMALL.replace(modalities=modalities)
    figure = preview_figure([0.2, 0.8], key=jr.key(1), config=config)
    assert len(figure.axes) == 2 * len(rows)
    assert [ax.get_ylabel() for ax in figure.axes[::2]] == rows


@pytest.mark.parametrize(
    "alignments,error,message",
    [
        ([], TypeError, "`alignments` must be a non-empty list"),
        ([0.0, 1.5], ValueError, r"`alignments\[1\]` must be in \[0, 1\], got 1.5"),
        ([0.3, 0.3], ValueError, "`alignments` must not repeat a value"),
    ],
)
def test_bad_alignments_name_the_argument(alignments, error, message):
    with pytest.raises(error, match=message):
        preview_figure(alignments, key=jr.key(0), config=SMALL)
    with pytest.raises(error, match=message):
        alignment_sweep(alignments, key=jr.key(0), config=SMALL)


def test_alignment_sweep_rises_with_the_alignment(tmp_path):
    sweep = alignment_sweep([0.0, 0.6, 1.0], key=jr.key(2), config=SMALL, num_samples=64)
    assert list(sweep) == [0.0, 0.6, 1.0]
    assert all(list(row) == ["image", "text", "audio"] for row in sweep.values())
    assert all(abs(v) < 0.15 for v in sweep[0.0].values())
    assert sweep[1.0]["image"] > 0.99 and sweep[1.0]["audio"] > 0.99
    for modality in ("image", "text", "audio"):
        assert sweep[0.0][modality] < sweep[0.6][modality] < sweep[1.0][modality] + 1e-6
    # One alignment at a time (as the command line measures) gives the same numbers.
    alone = alignment_sweep([0.6], key=jr.key(2), config=SMALL, num_samples=64)
    assert alone[0.6] == sweep[0.6]

    path = tmp_path / "alignment.png"
    figure = alignment_figure(sweep, path=path)
    assert_drawn(path, 600, 400)
    assert [line.get_label() for line in figure.axes[0].lines] == ["image", "text", "audio"]
    np.testing.assert_allclose(figure.axes[0].lines[2].get_ydata()[2], sweep[1.0]["audio"])


def _history():
    history = []
    for step in range(0, 200, 10):
        record = {
            "step": step,
            "loss": 2.0 * np.exp(-step / 50) + 0.1,
            "loss/contrastive": np.float32(1.5 * np.exp(-step / 30) + 0.05),
            "loss/recon_image": 0.4,
            "lr": 1e-3,
            "phase": "warmup" if step < 50 else "main",
        }
        if step % 40 == 0:
            record["val_loss"] = record["loss"] * 1.1
        history.append(record)
    return history


def _run_history():
    """Rows as `fit` logs them: training terms every 20 steps, validation every 100."""
    pairs = ["image-text", "image-audio", "text-audio"]
    history = []
    for step in range(20, 501, 20):
        decay = np.exp(-step / 200)
        record = {"step": step, "loss": 10 * decay + 1, "alignment": 0.8}
        record.update({f"contrastive/{p}": 3 * decay + 0.5 + i for i, p in enumerate(pairs)})
        record.update({f"recon/{m}": 0.5 * decay + 0.01 for m in ("image", "text", "audio")})
        record.update({f"temperature/{p}": 10 + step / 20 for p in pairs})
        record["steps_per_sec"] = 5.0 + np.sin(step)
        if step % 100 == 0:
            record["val_loss"] = record["loss"] * 1.1
            record.update({f"val/contrastive/{p}": 3.3 * decay + 0.6 for p in pairs})
            for a, b in (("image", "audio"), ("audio", "image")):
                record[f"val_recall@1 {a}->{b}"] = 0.5 * (1 - decay)
                record[f"val_recall@10 {a}->{b}"] = 0.9 * (1 - decay)
            record["val_score"] = 0.9 * (1 - decay)
        history.append(record)
    return history


RETRIEVAL = {
    "image->audio": {"recall@1": 0.2, "recall@5": 0.5, "recall@10": 0.7, "median_rank": 5.0},
    "audio->image": {"recall@1": 0.25, "recall@5": 0.55, "recall@10": 0.75, "median_rank": 4.0},
}


def test_training_report_curves_and_table(tmp_path):
    path = tmp_path / "training.png"
    figure = training_report(_run_history(), RETRIEVAL, path)
    *panels, side, table = figure.axes
    titles = [ax.get_title() for ax in panels]
    assert titles == [
        "loss",
        "contrastive terms",
        "reconstruction terms",
        "temperatures",
        "throughput",
        "validation recall, two-tower (R@1 solid, R@10 dashed)",
    ]
    # Two rows of three panels (the last widened to fill its row), the validation recall
    # in a row of its own with its legend beside it, then the table: 3 * 4.2 + 0.8 by
    # 3 * 3.2 + 2.4 inches.
    assert_drawn(path, 1340, 1200)
    assert panels[5].get_legend() is None and side.get_legend() is not None
    curves = {line.get_label(): line for ax in panels for line in ax.lines}
    loss, val_loss = curves["loss"], curves["val_loss"]
    np.testing.assert_array_equal(val_loss.get_xdata(), [100, 200, 300, 400, 500])
    # The training and validation losses in two colours, the validation one dashed.
    assert val_loss.get_color() != loss.get_color() and val_loss.get_linestyle() == "--"
    # A term's validation curve has its training curve's colour, dashed.
    term, val_term = curves["contrastive/image-audio"], curves["val/contrastive/image-audio"]
    assert term.get_color() == val_term.get_color() and val_term.get_linestyle() == "--"
    other = curves["contrastive/image-text"]
    assert other.get_color() != term.get_color()
    # Recall: one colour a pair, R@10 dashed; different pairs, different colours.
    r1, r10 = curves["val_recall@1 image->audio"], curves["val_recall@10 image->audio"]
    assert r1.get_color() == r10.get_color() and r10.get_linestyle() == "--"
    assert curves["val_recall@1 audio->image"].get_color() != r1.get_color()
    # Temperatures are not losses: their own panel, on a linear scale; steps/s too, and
    # a constant alignment is no curve.
    assert panels[3].get_yscale() == "linear" and panels[4].get_yscale() == "linear"
    assert [line.get_label() for line in panels[4].lines] == ["steps_per_sec"]
    assert panels[0].get_yscale() == "log" and panels[1].get_yscale() == "log"
    cells = {cell.get_text().get_text() for cell in table.tables[0].get_celld().values()}
    assert {"image->audio", "median_rank", "0.25", "5"} <= cells


def test_training_report_without_retrieval_or_positive_values(tmp_path):
    history = [{"step": i, "loss": 1.0 - i / 5, "val_loss": float("nan")} for i in range(10)]
    path = tmp_path / "training.png"
    figure = training_report(history, {}, path, dpi=50)
    # One panel (the loss) above the table: 1 * 4.2 + 0.8 by 3.2 + 2.4 inches, at 50 dpi.
    assert_drawn(path, 250, 280)
    assert figure.axes[0].get_yscale() == "linear"  # the loss goes negative
    assert [t.get_text() for t in figure.axes[-1].texts] == ["no retrieval results"]


@pytest.mark.parametrize(
    "history,retrieval,error,message",
    [
        ([], {}, ValueError, "`history` must be a non-empty list"),
        ([{"step": 0, "loss": 1.0}, {"step": 1}], {}, ValueError, r"`history\[1\]` must have"),
        ([{"step": 0, "loss": "high"}], {}, ValueError, r"`history\[0\]` must have"),
        ([3.0], {}, TypeError, r"`history\[0\]` must be a dict"),
        (
            [{"step": 0, "loss": 1.0}],
            {"image->text": {"recall@1": "n/a"}},
            ValueError,
            r"`retrieval\['image->text'\]\['recall@1'\]` must be a number",
        ),
    ],
)
def test_training_report_errors(
    history, retrieval, error, message, tmp_path, without_runtime_typecheck
):
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        training_report(history, retrieval, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_preview_command_writes_the_figure_and_the_report(tmp_path, capsys):
    out = tmp_path / "p.png"
    argv = ["preview", "--alignment", "0,1", "--out", str(out), "--dpi", "40", *SMALL_ARGS]
    assert main([*argv, "--report", "--num-samples", "16"]) == 0
    assert_drawn(out, 216, 300, ink=0.2)
    assert_drawn(tmp_path / "p-alignment.png", 240, 160)
    printed = capsys.readouterr().out
    assert "alignment  image" in printed and "report -> " in printed
    rows = [line.split() for line in printed.splitlines() if line.startswith(("0 ", "1 "))]
    assert [row[0] for row in rows] == ["0", "1"] and float(rows[1][1]) > 0.99

    out.unlink()
    assert main([*argv, "--quiet", "--seed", "3"]) == 0
    assert out.exists() and capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--alignment", "0,1.5"], "`--alignment[1]` must be in [0, 1], got 1.5"),
        (["--alignment", "0.5,0.5"], "`--alignment` must not repeat a value, got [0.5, 0.5]"),
        (["--out", "preview.jpg"], "--out must end in .png"),
        (["--out", "no/such/folder/p.png"], "--out folder 'no/such/folder' does not exist"),
    ],
)
def test_preview_command_errors_are_one_line(args, message, capsys):
    assert run(["preview", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_matplotlib_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=HINT.replace("[", r"\[").replace("]", r"\]")):
        preview_figure([0.0], key=jr.key(0), config=SMALL)
    out = tmp_path / "p.png"
    assert run(["preview", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert HINT in err and len(err.splitlines()) == 1
    assert not out.exists()

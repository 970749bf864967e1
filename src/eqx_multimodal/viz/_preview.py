"""One latent rendered at several alignment strengths, every modality side by side."""

import math
import os
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_alignments, check_int, check_key
from ..guide import (
    audio_dependence,
    folded_token_histogram,
    GUIDE_MEASURED,
    image_dependence,
    sample_from_latent,
    SyntheticConfig,
    text_dependence,
    token_groups,
)
from ..nn import stft_magnitude
from ._alignment import correlation_with_clean
from ._figure import DEFAULT_ALIGNMENTS, new_figure, save
from ._samples import draw_item


def spectrogram(audio: np.ndarray) -> np.ndarray:
    """Power in dB, `(frequency, time)`, of the Hann-windowed STFT (`nn.stft_magnitude`)
    with half-overlap.

    The window is a power of two near an eighth of the clip (16 to 512 samples), so
    short test clips and a second of 16 kHz audio both give a readable picture.
    """
    n = len(audio)
    nfft = 2 ** min(9, max(4, int(math.log2(max(n // 8, 1)))))
    magnitude = stft_magnitude(jnp.asarray(audio, jnp.float32), n_fft=nfft, hop_length=nfft // 2)
    return 10.0 * np.log10(np.asarray(magnitude, np.float64).T ** 2 + 1e-10)


def show_spectrogram(ax: Any, audio: Any, sample_rate: int | float) -> None:
    """Draw `spectrogram(audio)` on `ax`: time in seconds, frequency up to Nyquist, the
    80 dB below the loudest cell."""
    power = spectrogram(audio)
    top = power.max()
    ax.imshow(
        power,
        origin="lower",
        aspect="auto",
        extent=(0.0, len(audio) / sample_rate, 0.0, sample_rate / 2),
        cmap="magma",
        vmin=top - 80.0,
        vmax=top,
    )


@eqx.filter_jit
def _render(
    latent: Float[Array, " latent_dim"],
    alignment: Float[Array, ""],
    key: PRNGKeyArray,
    config: SyntheticConfig,
) -> tuple[dict[str, Array], dict[str, Array]]:
    """One column's sample and what is measured of it.

    The alignment is traced, so every column (and every figure of this configuration)
    shares one compilation.
    """
    aligned = config.replace(alignment=alignment)
    sample = sample_from_latent(latent, key=key, config=aligned)
    measured = {}
    own = [m for m in config.modalities if m not in GUIDE_MEASURED]
    if own:
        clean_config = config.replace(modalities=own, alignment=1.0)  # keys are per modality
        clean = sample_from_latent(latent, key=key, config=clean_config)
        measured.update({m: correlation_with_clean(sample[m], clean[m]) for m in own})
    if "image" in sample:
        measured["image"] = image_dependence(sample["image"], latent)
    if "audio" in sample:
        measured["audio"] = audio_dependence(sample["audio"], latent, aligned)
    if "text" in sample:
        measured["text"] = text_dependence(sample["text"], latent, config.vocab_size)
        measured["histogram"] = folded_token_histogram(
            sample["text"], config.latent_dim, config.vocab_size
        )
    return sample, measured


#: The rows of the guide's modalities (any other modality is a row of its own name).
VIEWS = ("image", "spectrogram", "waveform", "tokens")


def _expected_tokens(latent: np.ndarray, alignment: float, config: SyntheticConfig) -> np.ndarray:
    """The expected folded histogram: tokens a dimension draws, per token it owns."""
    counts = token_groups(config.vocab_size, config.latent_dim)
    logits = latent[: len(counts)] * alignment + np.log(counts)
    p = np.exp(logits - logits.max())
    return config.seq_length * p / p.sum() / counts


def _label(ax: Any, text: str) -> None:
    ax.text(
        0.03,
        0.95,
        text,
        transform=ax.transAxes,
        va="top",
        fontsize=8,
        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", alpha=0.8, linewidth=0),
    )


def preview_figure(
    alignments: Sequence[float] = DEFAULT_ALIGNMENTS,
    *,
    key: PRNGKeyArray,
    config: SyntheticConfig | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Any:
    """One latent rendered at each alignment strength: a column each, a row a view.

    Every column renders the same latent with the same noise, so only the alignment
    changes across a row. The rows are the image, the audio's spectrogram and its first
    20 ms, and the tokens counted by the latent dimension that sets their logit (token
    `t` counts for dimension `t % latent_dim`, divided by the tokens that dimension
    owns), with the dimensions sorted by their latent value and the expected counts
    drawn as a line: the bars rise to the right as the alignment grows. Each panel is
    labelled with the sample's measured dependence on the latent (`r`).

    **Arguments:**

    - `alignments`: distinct strengths in [0, 1], one column each.
    - `key`: keyword only. The key of the latent and of the noise.
    - `config`: keyword only. The data's configuration (its alignment is replaced);
        default `SyntheticConfig()`. Only its modalities get rows; one of yours gets a
        row drawn as its `Modality.draw` says, labelled with `correlation_with_clean`.
    - `path`: keyword only. Where to write the figure as a PNG, if anywhere.
    - `dpi`: keyword only. Pixels an inch. The figure is `1.2 + 2.1 * columns` inches
        wide and `0.7 + 1.7 * rows` inches tall.

    **Returns:**

    The matplotlib `Figure`.

    ```python
    >>> import jax.random as jr
    >>> config = SyntheticConfig(image_shape=(8, 8, 3), sample_rate=4000, duration=0.05)
    >>> figure = preview_figure([0.0, 1.0], key=jr.key(0), config=config)
    >>> [round(float(x), 1) for x in figure.get_size_inches()]
    [5.4, 7.5]

    ```
    """
    values = check_alignments(alignments)
    check_key(key)
    dpi = check_int(dpi, "dpi")
    config = SyntheticConfig() if config is None else config
    latent_key, sample_key = jr.split(key)
    latent = jr.normal(latent_key, (config.latent_dim,))
    columns = [
        jax.tree.map(np.asarray, _render(latent, jnp.float32(a), sample_key, config))
        for a in values
    ]

    rows = []
    if "image" in config.modalities:
        rows.append("image")
    if "audio" in config.modalities:
        rows += ["spectrogram", "waveform"]
    if "text" in config.modalities:
        rows.append("tokens")
    rows += [m for m in config.modalities if m not in GUIDE_MEASURED]
    figure = new_figure(1.2 + 2.1 * len(values), 0.7 + 1.7 * len(rows), dpi=dpi)
    axes = figure.subplots(len(rows), len(values), squeeze=False)
    figure.suptitle("One latent rendered at each alignment strength", fontsize=12)

    z = np.asarray(latent)
    order = np.argsort(z[: min(config.vocab_size, config.latent_dim)])
    expected = [_expected_tokens(z, a, config) for a in values]
    # One y scale for the whole token row, so the columns compare.
    tops = [m["histogram"].max() for _, m in columns if "histogram" in m]
    token_top = 1.1 * max(tops + [e.max() for e in expected])
    n = config.num_audio_samples
    shown = min(n, max(2, round(0.02 * config.sample_rate)))
    for column, alignment in enumerate(values):
        sample, measured = columns[column]
        axes[0, column].set_title(f"alignment {alignment:g}")
        for row, view in enumerate(rows):
            ax = axes[row, column]
            if view == "image":
                image = sample["image"]
                if image.shape[-1] not in (3, 4):
                    image = image.mean(axis=-1)
                ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                _label(ax, f"r = {measured['image']:.2f}")
            elif view == "spectrogram":
                show_spectrogram(ax, sample["audio"], config.sample_rate)
                ax.set_xlabel("s", labelpad=0)
                _label(ax, f"r = {measured['audio']:.2f}")
            elif view not in VIEWS:  # a modality of yours, as it draws itself
                draw_item(ax, view, sample[view])
                _label(ax, f"r = {measured[view]:.2f}")
            elif view == "waveform":
                t = 1000.0 * np.arange(shown) / config.sample_rate
                ax.plot(t, sample["audio"][:shown], linewidth=0.8)
                ax.set_ylim(-1.05, 1.05)
                ax.set_xlabel("ms", labelpad=0)
            else:
                histogram = measured["histogram"]
                x = np.arange(len(order))
                ax.bar(x, histogram[order], width=1.0, color="tab:green", alpha=0.7)
                ax.plot(x, expected[column][order], color="black", linewidth=1.0)
                ax.set_ylim(0.0, token_top)
                ax.set_xticks([])
                ax.set_xlabel("latent dimension, by value", labelpad=2)
                _label(ax, f"r = {measured['text']:.2f}")
            if column > 0 and view != "image":
                ax.tick_params(labelleft=False)
    labels = {
        **{view: view for view in rows},
        "image": "image",
        "spectrogram": "spectrogram (Hz)",
        "waveform": "waveform, first 20 ms",
        "tokens": "tokens per owned token",
    }
    for row, view in enumerate(rows):
        axes[row, 0].set_ylabel(labels[view])
    return save(figure, path)

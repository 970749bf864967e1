"""hypothesis strategies for the library's data and configurations.

Shapes are drawn from a few small fixed sets, so that examples share compiled code
instead of compiling anew at every draw, and stay cheap; values (seeds, alignments,
latents, tokens) are drawn freely.
"""

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from typing import Any, no_type_check

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax.numpy as jnp
import jax.random as jr
import jaxtyping
import numpy as np

from .._validation import MAX_SEED
from ..data import PairedDataset
from ..guide import GUIDE_MODALITIES as MODALITIES, synthetic_batch, synthetic_item, SyntheticConfig
from ..modalities import get_modality


@contextlib.contextmanager
def without_type_checks() -> Iterator[None]:
    """Run a block without jaxtyping's runtime type checks (where the import hook or the
    pytest flag installed them).

    For strategies that build the library's objects (a beartype check of a container
    samples one of its items with the `random` module, which hypothesis forbids while it
    draws an example; the objects check their arguments themselves), and for tests of
    the library's own error messages for a value of the wrong type.
    """
    old = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", old)


#: Every non-empty subset of the modalities, in the canonical order.
MODALITY_SETS = tuple(combo for r in range(1, 4) for combo in itertools.combinations(MODALITIES, r))
IMAGE_SHAPES = ((4, 4, 1), (8, 6, 3), (5, 9, 2))
#: Rates that hold the guide's tones (up to 2000 Hz), with short durations.
AUDIO = ((4000, 0.01), (4000, 0.025), (8000, 0.01))


def seeds() -> st.SearchStrategy[int]:
    """Seeds: any integer a key can be made from, `[0, 2**64)`."""
    return st.integers(0, MAX_SEED)


def alignments() -> st.SearchStrategy[float]:
    """Alignment strengths in [0, 1], the ends included."""
    return st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0, allow_nan=False))


def latents(dim: int = 32) -> st.SearchStrategy[Any]:
    """Latent vectors of `dim` float32 values in [-4, 4] (the shared latent is standard
    normal), as JAX arrays."""
    elements = st.floats(-4.0, 4.0, allow_nan=False, width=32)
    return hnp.arrays(np.float32, (dim,), elements=elements).map(jnp.asarray)


@st.composite
@no_type_check  # checked by the objects it builds; see `without_type_checks`
def synthetic_configs(
    draw: Any, *, modalities: Sequence[Sequence[str]] | None = None
) -> SyntheticConfig:
    """Valid `SyntheticConfig`s of small shapes (a few fixed image shapes, vocabularies,
    lengths, rates and durations; any alignment).

    **Arguments:**

    - `modalities`: keyword only. The modality sets to draw from (default: every
        non-empty subset of image, text and audio). A set may name a modality of yours
        registered with a `render`; each size its registered shape leaves open is drawn
        from `FREE_SIZES` (`SyntheticConfig(shapes=...)`).
    """
    rate, duration = draw(st.sampled_from(AUDIO))
    chosen = draw(st.sampled_from(MODALITY_SETS if modalities is None else modalities))
    shapes = {}
    for name in chosen:
        shape = get_modality(name).shape if name not in MODALITIES else ()
        if None in shape:
            shapes[name] = tuple(
                draw(st.sampled_from(FREE_SIZES)) if size is None else size for size in shape
            )
    arguments = dict(
        modalities=chosen,
        shapes=shapes,
        alignment=draw(alignments()),
        image_shape=draw(st.sampled_from(IMAGE_SHAPES)),
        vocab_size=draw(st.sampled_from((1, 7, 32, 100))),
        seq_length=draw(st.sampled_from((1, 5, 16))),
        sample_rate=rate,
        duration=duration,
        latent_dim=draw(st.sampled_from((1, 4, 32))),
    )
    with without_type_checks():
        return SyntheticConfig(**arguments)


def samples(config: SyntheticConfig) -> st.SearchStrategy[dict[str, Any]]:
    """Synthetic samples of `config` (item 0 of a drawn seed's dataset)."""
    return seeds().map(lambda seed: synthetic_item(0, key=jr.key(seed % 2**32), config=config))


def batches(config: SyntheticConfig, size: int) -> st.SearchStrategy[dict[str, Any]]:
    """Synthetic batches of `size` items of `config` (a drawn seed, drawn first index)."""

    def make(seed_and_start: tuple[int, int]) -> dict[str, Any]:
        seed, start = seed_and_start
        indices = start + jnp.arange(size)
        return synthetic_batch(indices, key=jr.key(seed % 2**32), config=config)

    return st.tuples(seeds(), st.integers(0, 2**20)).map(make)


def presence_masks(num_modalities: int = 3) -> st.SearchStrategy[Any]:
    """Which of `num_modalities` modalities are present: every mask, all-absent
    included, as a boolean JAX array."""
    return st.lists(st.booleans(), min_size=num_modalities, max_size=num_modalities).map(
        lambda mask: jnp.asarray(mask, bool)
    )


#: The sizes drawn for an item's free sizes (`None` in `Modality.shape`).
FREE_SIZES = (2, 3)


@st.composite
@no_type_check
def modality_items(draw: Any, modality: str, n: int = 2) -> np.ndarray:
    """`n` items of any registered modality, `(n, *item shape)`: its fixed sizes, each
    free size drawn from `FREE_SIZES` (one shape for all `n`); float32 values in [0, 1],
    or int32 ids in [0, 50).

    ```python
    >>> from hypothesis import find
    >>> find(modality_items("image", 3), lambda items: True).shape
    (3, 2, 2, 2)

    ```
    """
    kind = get_modality(modality)
    shape = tuple(
        draw(st.sampled_from(FREE_SIZES)) if size is None else size for size in kind.shape
    )
    if kind.holds_ids:
        return draw(hnp.arrays(np.int32, (n, *shape), elements=st.integers(0, 49)))
    unit = st.floats(0.0, 1.0, allow_nan=False, width=32)
    return draw(hnp.arrays(np.float32, (n, *shape), elements=unit))


@st.composite
@no_type_check  # checked by the objects it builds; see `without_type_checks`
def paired_datasets(
    draw: Any,
    *,
    min_samples: int = 2,
    max_samples: int = 8,
    incomplete: bool = True,
    labels: bool = True,
    modalities: Sequence[str] | None = None,
) -> PairedDataset:
    """`PairedDataset`s of small shapes: any modalities, images in [0, 1], tokens, audio
    in [-1, 1], optional latents, alignment scores, labels and (with `incomplete`)
    samples that lack some modalities.

    `modalities`: keyword only. The registered modalities to draw subsets of, yours
    included (their items from `modality_items`); default image, text and audio.
    """
    if modalities is None:
        modalities = draw(st.sampled_from(MODALITY_SETS))
    else:
        names = tuple(get_modality(m).name for m in modalities)
        subsets = [c for r in range(1, len(names) + 1) for c in itertools.combinations(names, r)]
        modalities = draw(st.sampled_from(subsets))
    n = draw(st.integers(min_samples, max_samples))
    data: dict[str, Any] = {}
    unit = st.floats(0.0, 1.0, allow_nan=False, width=32)
    if "image" in modalities:
        shape = draw(st.sampled_from(IMAGE_SHAPES))
        data["image"] = draw(hnp.arrays(np.float32, (n, *shape), elements=unit))
    if "text" in modalities:
        length = draw(st.sampled_from((3, 6)))
        data["text"] = draw(hnp.arrays(np.int32, (n, length), elements=st.integers(0, 49)))
    if "audio" in modalities:
        length = draw(st.sampled_from((16, 40)))
        wave = st.floats(-1.0, 1.0, allow_nan=False, width=32)
        data["audio"] = draw(hnp.arrays(np.float32, (n, length), elements=wave))
    for name in modalities:
        if name not in MODALITIES:
            data[name] = draw(modality_items(name, n))
    if draw(st.booleans()):
        data["latent"] = draw(hnp.arrays(np.float32, (n, 4), elements=unit))
    present = None
    if incomplete and len(modalities) > 1 and draw(st.booleans()):
        masks = draw(
            st.lists(
                st.lists(st.booleans(), min_size=len(modalities), max_size=len(modalities)).filter(
                    any
                ),
                min_size=n,
                max_size=n,
            )
        )
        present = {m: np.asarray([row[i] for row in masks]) for i, m in enumerate(modalities)}
    drawn_labels = None
    if labels and draw(st.booleans()):
        drawn_labels = draw(
            st.lists(st.sampled_from(["0", "1", "2", None]), min_size=n, max_size=n)
        )
    scores = draw(hnp.arrays(np.float32, (n,), elements=unit))
    with without_type_checks():
        return PairedDataset(
            data,
            alignments=scores,
            present=present,
            labels=drawn_labels,
            vocab_size=50 if "text" in modalities else None,
            sample_rate=4000 if "audio" in modalities else None,
        )


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Captions: any Unicode text (no lone surrogates, which UTF-8 cannot encode)."""
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=max_size)


#: Bad arguments of `SyntheticConfig`, each with the error and the message it must raise.
_INVALID: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"modalities": []}, ValueError, "`modalities` must name at least one"),
    ({"modalities": ["image", "video"]}, ValueError, "unknown modality 'video'"),
    ({"modalities": ["text", "text"]}, ValueError, "`modalities` contains duplicates"),
    ({"image_shape": (8, 8)}, ValueError, "`image_shape` must have 3 entries"),
    ({"image_shape": (8, 0, 3)}, ValueError, "`image_shape` must contain positive integers"),
    ({"image_shape": (100_000, 100_000, 3)}, ValueError, "values an image; at most"),
    ({"vocab_size": 0}, ValueError, "`vocab_size` must be a positive integer"),
    ({"vocab_size": 2**40}, ValueError, "`vocab_size` must be at most"),
    ({"seq_length": -3}, ValueError, "`seq_length` must be a positive integer"),
    ({"sample_rate": 0}, ValueError, "`sample_rate` must be a positive integer"),
    ({"duration": 0.0}, ValueError, "`duration` must be > 0"),
    ({"duration": float("nan")}, ValueError, "`duration` must be finite"),
    ({"latent_dim": 0}, ValueError, "`latent_dim` must be a positive integer"),
]


@st.composite
@no_type_check  # checked by the objects it builds; see `without_type_checks`
def invalid_configs(draw: Any) -> tuple[dict[str, Any], type[Exception], str]:
    """`(arguments, error, message)`: arguments that `SyntheticConfig(**arguments)` must
    refuse with `error`, whose message contains `message` (which names the argument and
    the value). Alignments outside [0, 1] are drawn freely."""
    bad_alignment = st.one_of(
        st.floats(min_value=1.0, exclude_min=True, allow_nan=False, allow_infinity=False),
        st.floats(max_value=0.0, exclude_max=True, allow_nan=False, allow_infinity=False),
    ).map(lambda a: ({"alignment": a}, ValueError, "`alignment` must be in [0, 1], got"))
    return draw(st.one_of(st.sampled_from(_INVALID), bad_alignment))

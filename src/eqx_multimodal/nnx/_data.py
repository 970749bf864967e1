"""The data half of the guide's API, on top of `eqx_multimodal.data`."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from .._types import Image, Latent, ScalarLike, Tokens, Waveform
from .._validation import (
    argument_names,
    check_int,
    check_key,
    check_real,
    check_shape,
    is_traced,
)
from ..data import PairedDataset
from ..guide import (
    audio_from_latent,
    image_from_latent,
    SyntheticConfig,
    SyntheticDataset,
    text_from_latent,
)
from ._rngs import next_key


# The guide's argument names for the fields of `SyntheticConfig`.
_GUIDE_NAMES = {
    "alignment": "alignment_strength",
    "vocab_size": "text_vocab_size",
    "seq_length": "text_sequence_length",
    "sample_rate": "audio_sample_rate",
    "duration": "audio_duration",
}


class MultiModalDataset:
    """The guide's aligned dataset: a lazy `SyntheticDataset` plus a batch stream.

    Indexing, `len` and iteration are those of the underlying dataset (`.dataset`);
    `get_batch(batch_size)` draws a fresh random batch from the dataset's own stream of
    keys on every call.
    """

    def __init__(self, dataset: SyntheticDataset, batch_key: PRNGKeyArray):
        self.dataset = dataset
        self._batch_key = batch_key
        self._epoch = -1
        self._order = np.zeros(0, np.int32)
        self._position = 0

    @property
    def config(self) -> SyntheticConfig:
        return self.dataset.config

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.dataset.config.modalities

    @property
    def alignment_strength(self) -> float:
        return float(self.dataset.config.alignment)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> dict[str, Array]:
        return self.dataset[index]

    def __iter__(self) -> Iterator[dict[str, Array]]:
        return iter(self.dataset)

    def get_batch(self, batch_size: int = 32) -> dict[str, Array]:
        """The next `batch_size` distinct items of the dataset's own shuffled stream.

        The stream visits the dataset in a random order, one epoch after another (each
        epoch a new permutation, drawn from the dataset's batch key); a batch never
        straddles two epochs, so its items are distinct. One permutation is drawn an
        epoch, not one a batch.
        """
        batch_size = check_int(batch_size, "batch_size")
        if batch_size > len(self.dataset):
            raise ValueError(
                f"`batch_size` must be at most the dataset size {len(self.dataset)}, got "
                f"{batch_size}"
            )
        if self._position + batch_size > len(self._order):
            self._epoch += 1
            key = jr.fold_in(self._batch_key, self._epoch)
            self._order = np.asarray(jr.permutation(key, len(self.dataset)), np.int32)
            self._position = 0
        indices = self._order[self._position : self._position + batch_size]
        self._position += batch_size
        return self.dataset[indices]

    def __repr__(self) -> str:
        return (
            f"MultiModalDataset(modalities={list(self.modalities)}, "
            f"num_samples={len(self)}, alignment_strength={self.alignment_strength:g})"
        )


def create_synthetic_multi_modal_dataset(
    modalities: Sequence[str],
    num_samples: int = 1000,
    alignment_strength: ScalarLike = 0.8,
    image_shape: tuple[int, int, int] = (32, 32, 3),
    text_vocab_size: int = 1000,
    text_sequence_length: int = 50,
    audio_sample_rate: int = 16000,
    audio_duration: float | int = 1.0,
    *,
    rngs: Any,
) -> MultiModalDataset:
    """The guide's `create_synthetic_multi_modal_dataset`.

    Draws one key from `rngs` (this shim's `Rngs` or `flax.nnx.Rngs`), so two datasets
    made one after the other from the same `rngs` are independent. Datasets of the same
    shapes share compiled code.

    ```python
    >>> from eqx_multimodal.nnx import Rngs, create_synthetic_multi_modal_dataset
    >>> dataset = create_synthetic_multi_modal_dataset(
    ...     modalities=["image", "text"], num_samples=100, image_shape=(8, 8, 3), rngs=Rngs(0)
    ... )
    >>> list(dataset[0].keys())
    ['image', 'text', 'alignment_score', 'latent']
    >>> dataset.get_batch(8)["image"].shape
    (8, 8, 8, 3)

    ```
    """
    with argument_names(_GUIDE_NAMES):
        config = SyntheticConfig(
            modalities=modalities,
            alignment=alignment_strength,
            image_shape=image_shape,
            vocab_size=text_vocab_size,
            seq_length=text_sequence_length,
            sample_rate=audio_sample_rate,
            duration=audio_duration,
        )
        num_samples = check_int(num_samples, "num_samples")
    key = next_key(rngs, "data")
    data_key, batch_key = jr.split(key)
    return MultiModalDataset(SyntheticDataset(config, num_samples, key=data_key), batch_key)


class MultiModalPairedDataset:
    """The guide's `MultiModalPairedDataset(pairs, data, alignments=None)`.

    A thin wrapper over `PairedDataset` (`.dataset`) with the guide's argument order and
    its item key `"alignment_scores"` (the core's items say `"alignment_score"`, as the
    synthetic samples do).
    """

    def __init__(
        self,
        pairs: Sequence[Sequence[str]],
        data: Mapping[str, ArrayLike],
        alignments: ArrayLike | None = None,
    ):
        self.dataset = PairedDataset(data, pairs=pairs, alignments=alignments)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(self.dataset.pairs)

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.dataset.modalities

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> dict[str, Any]:
        return _guide_item(self.dataset[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (_guide_item(item) for item in self.dataset)

    def __repr__(self) -> str:
        return f"MultiModalPairedDataset(pairs={self.pairs}, num_samples={len(self)})"


def _guide_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item with the guide's spelling of its alignment score."""
    return {("alignment_scores" if k == "alignment_score" else k): v for k, v in item.items()}


def _noise_key(key: Any, rngs: Any) -> PRNGKeyArray:
    if key is not None and rngs is not None:
        raise TypeError("pass either `key` or `rngs`, not both")
    if key is not None:
        return check_key(key)
    if rngs is not None:
        return next_key(rngs, "sample")
    # The guide's documented behaviour: one fixed key, the same noise every call.
    return jr.key(0)


def _check_alignment(alignment_strength: Any) -> ScalarLike:
    if is_traced(alignment_strength):
        return alignment_strength
    return check_real(alignment_strength, "alignment_strength", low=0.0, high=1.0)


def _check_latent(latent: Any) -> Latent:
    latent = jnp.asarray(latent)
    if latent.ndim != 1 or latent.shape[0] < 1:
        raise ValueError(f"`latent` must be a non-empty vector, got shape {latent.shape}")
    if not jnp.issubdtype(latent.dtype, jnp.floating):
        raise TypeError(f"`latent` must be a float array, got dtype {latent.dtype}")
    return latent.astype(jnp.float32)


def generate_image_from_latent(
    latent: ArrayLike,
    alignment_strength: ScalarLike,
    image_shape: tuple[int, int, int] = (32, 32, 3),
    *,
    key: PRNGKeyArray | None = None,
    rngs: Any = None,
) -> Image:
    """The guide's image generator, with its noise from `key` or `rngs`.

    Without either it reproduces the guide's documented behaviour: the noise comes from
    the fixed key `jax.random.key(0)`, so every call with the same latent returns the
    same image (and the noise is identical to the guide's). Pass `key=` or `rngs=` for
    independent noise; the functional `eqx_multimodal.image_from_latent` always needs a
    key.
    """
    shape = check_shape(image_shape, "image_shape", length=3)
    return image_from_latent(
        _check_latent(latent),
        _check_alignment(alignment_strength),
        key=_noise_key(key, rngs),
        shape=shape,  # type: ignore[arg-type]
    )


def generate_text_from_latent(
    latent: ArrayLike,
    alignment_strength: ScalarLike,
    vocab_size: int = 1000,
    seq_length: int = 50,
    *,
    key: PRNGKeyArray | None = None,
    rngs: Any = None,
) -> Tokens:
    """The guide's text generator, with its draws from `key` or `rngs`.

    Without either, the tokens come from the fixed key `jax.random.key(0)` as in the
    guide: the same tokens every call for the same latent. The distribution is exactly
    the guide's (softmax of the tiled latent times the alignment); the draw itself is
    one vectorised inverse-CDF sample rather than a Python loop of `choice` calls.
    """
    return text_from_latent(
        _check_latent(latent),
        _check_alignment(alignment_strength),
        key=_noise_key(key, rngs),
        vocab_size=check_int(vocab_size, "vocab_size"),
        seq_length=check_int(seq_length, "seq_length"),
    )


def generate_audio_from_latent(
    latent: ArrayLike,
    alignment_strength: ScalarLike,
    sample_rate: int = 16000,
    duration: float | int = 1.0,
    *,
    key: PRNGKeyArray | None = None,
    rngs: Any = None,
) -> Waveform:
    """The guide's audio generator, with its noise from `key` or `rngs`.

    Without either, the noise comes from the fixed key `jax.random.key(0)`, exactly as
    in the guide, so every call with the same latent returns the same waveform.
    """
    # The checks of `SyntheticConfig`, so that this function refuses what it refuses.
    config = SyntheticConfig(modalities=["audio"], sample_rate=sample_rate, duration=duration)
    sample_rate, duration = config.sample_rate, config.duration
    return audio_from_latent(
        _check_latent(latent),
        _check_alignment(alignment_strength),
        key=_noise_key(key, rngs),
        sample_rate=sample_rate,
        duration=duration,
    )


def generate_aligned_sample(
    latent: ArrayLike,
    alignment_strength: ScalarLike,
    *,
    key: PRNGKeyArray | None = None,
    rngs: Any = None,
) -> dict[str, Array]:
    """The guide's `generate_aligned_sample`: every modality from one latent.

    With `key` (or `rngs`) the image, text and audio each get their own split of it;
    without, each uses the guide's fixed key `jax.random.key(0)`.
    """
    if key is None and rngs is None:
        keys: list[Any] = [None, None, None]
    else:
        keys = list(jr.split(_noise_key(key, rngs), 3))
    alignment = _check_alignment(alignment_strength)
    return {
        "image": generate_image_from_latent(latent, alignment, key=keys[0]),
        "text": generate_text_from_latent(latent, alignment, key=keys[1]),
        "audio": generate_audio_from_latent(latent, alignment, key=keys[2]),
        "latent": _check_latent(latent),
        "alignment_score": jnp.asarray(alignment, dtype=jnp.float32),
    }

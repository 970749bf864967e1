"""Aligned image / text / audio samples rendered from one shared latent.

The formulas are those of the Multi-Modal Guide; the computation is not. Each renderer
takes its noise from an explicit key, and each evaluates the guide's formula with far
less work than the direct transcription (see `_reference.py`, which the tests compare
against):

- image: the 8 patterns `|z| sin(f x + pi z) cos(f y + pi z)` are separable, so the
  pattern is one rank-8 product of an (8, height) and an (8, width) table.
- text: `tile(latent)[:vocab]` takes only `latent_dim` distinct values, so a token is
  drawn by inverse-CDF sampling over the `latent_dim` groups of equal logits and then
  uniformly inside its group: two uniforms a token instead of one Gumbel per
  vocabulary entry. The distribution is exactly the softmax of the guide's logits.
- audio: `sin(w (B q + r) + p) = sin(w B q + p) cos(w r) + cos(w B q + p) sin(w r)`,
  so a waveform of N samples in blocks of B needs 2 K (N / B + B) sines and cosines and
  one small matrix product instead of K N sines. Each block starts from an exactly
  computed angle, so no error accumulates along the waveform.
"""

import math
import zlib
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Integer, PRNGKeyArray

from .._types import Image, Latent, ScalarLike, Tokens, Waveform
from .._validation import check_key, is_traced
from ..modalities import get_modality
from ._synthetic_config import num_audio_samples, SyntheticConfig


_HIGHEST = jax.lax.Precision.HIGHEST

#: The order in which a sample's key has always been split among the built-in
#: modalities (kept so that every dataset renders bit for bit as before).
SPLIT_ORDER: tuple[str, ...] = ("image", "text", "audio")
#: How many latent dimensions each renderer reads, as in the guide.
IMAGE_COMPONENTS = 8
AUDIO_COMPONENTS = 10

Sample = dict[str, Array]


def _as_alignment(alignment: ScalarLike) -> Float[Array, ""]:
    return jnp.asarray(alignment, dtype=jnp.float32)


def _minmax(x: Array) -> Array:
    # Clipped: XLA may compute `x` twice (fused into two consumers), once with a fused
    # multiply-add and once without, and an element one rounding below its own minimum
    # would come out at -4e-8 (seen with the CPU's older fusion emitters).
    return jnp.clip((x - jnp.min(x)) / (jnp.max(x) - jnp.min(x) + 1e-8), 0.0, 1.0)


def image_pattern(latent: Latent, height: int, width: int) -> Float[Array, "height width"]:
    """The noise-free image pattern of the guide, min-max normalised to [0, 1].

    `sum_k |z_k| sin(f_k x + pi z_k) cos(f_k y + pi z_k)` over the first 8 latents,
    `f_k = 2 + k`, on `linspace(-1, 1)` in both directions (rows are y).

    ```python
    >>> import jax.random as jr
    >>> image_pattern(jr.normal(jr.key(0), (32,)), 16, 8).shape
    (16, 8)

    ```
    """
    k = min(latent.shape[0], IMAGE_COMPONENTS)
    z = latent[:k]
    freq = 2.0 + jnp.arange(k, dtype=jnp.float32)
    phase = jnp.pi * z
    x = jnp.linspace(-1.0, 1.0, width, dtype=jnp.float32)
    y = jnp.linspace(-1.0, 1.0, height, dtype=jnp.float32)
    sin_x = jnp.sin(freq[:, None] * x[None, :] + phase[:, None])
    cos_y = jnp.abs(z)[:, None] * jnp.cos(freq[:, None] * y[None, :] + phase[:, None])
    return _minmax(_sum_of_outer_products(cos_y, sin_x))


def _sum_of_outer_products(a: Float[Array, "k m"], b: Float[Array, "k n"]) -> Float[Array, "m n"]:
    """`sum_k outer(a[k], b[k])`, added in the order of `k`.

    Elementwise, not a matrix product: a product's accumulation order depends on how the
    compiler tiles it, which depends on the batch around it, and that made an item differ
    in its last bits with the batch it was made in. Here every value is the same chain of
    operations wherever the item is made.
    """
    total = a[0][:, None] * b[0][None, :]
    for k in range(1, a.shape[0]):
        total = total + a[k][:, None] * b[k][None, :]
    return total


def image_from_latent(
    latent: Latent,
    alignment: ScalarLike,
    *,
    key: PRNGKeyArray,
    shape: tuple[int, int, int] = (32, 32, 3),
) -> Image:
    """Render an image from the shared latent.

    `alignment * pattern + (1 - alignment) * N(0, 1)`, min-max normalised to [0, 1],
    where the pattern (the same in every channel) is the guide's sum of 8 sin * cos
    gratings with amplitude `|z_i|`, frequency `2 + i` and phase `pi z_i`.

    **Arguments:**

    - `latent`: the shared latent, shape `(latent_dim,)`.
    - `alignment`: in [0, 1]; a Python float or a scalar array (it may be traced).
    - `key`: keyword only. The key of the noise.
    - `shape`: keyword only. `(height, width, channels)`.

    **Returns:**

    A float32 image of shape `shape` with values in [0, 1].

    ```python
    >>> import jax.random as jr
    >>> image = image_from_latent(jr.normal(jr.key(0), (32,)), 0.8, key=jr.key(1))
    >>> image.shape, bool(image.min() >= 0), bool(image.max() <= 1)
    ((32, 32, 3), True, True)

    ```
    """
    height, width, channels = shape
    alignment = _as_alignment(alignment)
    pattern = image_pattern(latent, height, width)[:, :, None]
    noise = jr.normal(key, shape, dtype=jnp.float32)
    return _minmax(alignment * pattern + (1 - alignment) * noise)


def token_groups(vocab_size: int, latent_dim: int) -> np.ndarray:
    """How many tokens share the logit of each latent dimension.

    Token `t` has logit `latent[t % latent_dim] * alignment`; dimension `j` owns the
    tokens `j, j + latent_dim, j + 2 latent_dim, ...` below `vocab_size`.

    ```python
    >>> token_groups(10, 4).tolist()
    [3, 3, 2, 2]

    ```
    """
    groups = min(vocab_size, latent_dim)
    j = np.arange(groups)
    return (vocab_size - j + latent_dim - 1) // latent_dim


def token_logits(latent: Latent, alignment: ScalarLike, vocab_size: int) -> Float[Array, " vocab"]:
    """The guide's token logits, `tile(latent)[:vocab_size] * alignment`.

    ```python
    >>> import jax.numpy as jnp
    >>> token_logits(jnp.array([1.0, 2.0]), 0.5, 5).tolist()
    [0.5, 1.0, 0.5, 1.0, 0.5]

    ```
    """
    reps = vocab_size // latent.shape[0] + 1
    return jnp.tile(latent, reps)[:vocab_size] * _as_alignment(alignment)


def text_from_latent(
    latent: Latent,
    alignment: ScalarLike,
    *,
    key: PRNGKeyArray,
    vocab_size: int = 1000,
    seq_length: int = 50,
) -> Tokens:
    """Draw `seq_length` i.i.d. tokens from `softmax(tile(latent)[:vocab_size] * alignment)`.

    **Arguments:**

    - `latent`: the shared latent, shape `(latent_dim,)`.
    - `alignment`: in [0, 1]. At 0 every token is equally likely.
    - `key`: keyword only. The key of the draw.
    - `vocab_size`, `seq_length`: keyword only.

    **Returns:**

    int32 tokens of shape `(seq_length,)` in `[0, vocab_size)`.

    ```python
    >>> import jax.random as jr
    >>> tokens = text_from_latent(jr.normal(jr.key(0), (32,)), 0.8, key=jr.key(1))
    >>> tokens.shape, tokens.dtype
    ((50,), dtype('int32'))

    ```
    """
    latent_dim = latent.shape[0]
    counts = token_groups(vocab_size, latent_dim)
    groups = counts.shape[0]
    log_counts = jnp.asarray(np.log(counts), dtype=jnp.float32)
    group_logits = latent[:groups] * _as_alignment(alignment) + log_counts
    cdf = jnp.cumsum(jax.nn.softmax(group_logits))
    u_group, u_member = jr.uniform(key, (2, seq_length), dtype=jnp.float32)
    group = jnp.searchsorted(cdf, u_group * cdf[-1], side="right")
    group = jnp.minimum(group, groups - 1).astype(jnp.int32)
    count = jnp.asarray(counts, dtype=jnp.int32)[group]
    member = jnp.floor(u_member * count.astype(jnp.float32)).astype(jnp.int32)
    return group + latent_dim * jnp.minimum(member, count - 1)


def _frac(x: Array) -> Array:
    return x - jnp.floor(x)


def audio_tone(latent: Latent, sample_rate: int, duration: float | int) -> Float[Array, " samples"]:
    """The guide's noise-free sum of sinusoids (before mixing and normalisation).

    `sum_i 0.1 |z_i| sin(2 pi (100 + 1900 (|z_i| mod 1)) t + 2 pi z_i)` over the first 10
    latents, on the guide's time axis `linspace(0, duration, n)`.

    ```python
    >>> import jax.random as jr
    >>> audio_tone(jr.normal(jr.key(0), (32,)), 8000, 0.5).shape
    (4000,)

    ```
    """
    n = num_audio_samples(sample_rate, duration)
    k = min(latent.shape[0], AUDIO_COMPONENTS)
    z = latent[:k]
    freq = 100.0 + 1900.0 * jnp.mod(jnp.abs(z), 1.0)
    phase = 2.0 * jnp.pi * z
    amplitude = 0.1 * jnp.abs(z)
    # Time step of the guide's `linspace(0, duration, n)`.
    step = duration / (n - 1) if n > 1 else 0.0
    block = max(1, math.isqrt(n))
    num_blocks = -(-n // block)
    # Angles are reduced in cycles (mod 1) before scaling by 2 pi, so they stay small
    # and do not depend on how the compiler orders the products.
    # The angle at the start of each block, computed directly (no accumulation) ...
    t_start = (block * step) * jnp.arange(num_blocks, dtype=jnp.float32)
    start = 2.0 * jnp.pi * _frac(freq[:, None] * t_start[None, :]) + phase[:, None]
    # ... and the rotation from there to each sample in the block.
    r = jnp.arange(block, dtype=jnp.float32)
    offset = 2.0 * jnp.pi * _frac((freq * step)[:, None] * r[None, :])
    left = jnp.concatenate(
        [amplitude[:, None] * jnp.sin(start), amplitude[:, None] * jnp.cos(start)]
    )
    right = jnp.concatenate([jnp.cos(offset), jnp.sin(offset)])
    # A matrix product (k = 20) that the compiler runs one item at a time: the same sums
    # in the same order whatever the batch (unlike the image's, which is elementwise).
    wave = jnp.einsum("kq,kb->qb", left, right, precision=_HIGHEST)
    return wave.reshape(-1)[:n]


def audio_from_latent(
    latent: Latent,
    alignment: ScalarLike,
    *,
    key: PRNGKeyArray,
    sample_rate: int = 16000,
    duration: float | int = 1.0,
) -> Waveform:
    """Render a waveform from the shared latent.

    The guide's sum of 10 sinusoids (frequency `100 + 1900 (|z_i| mod 1)` Hz, amplitude
    `0.1 |z_i|`, phase `2 pi z_i`) mixed as `alignment * tone + (1 - alignment) * 0.1
    N(0, 1)` and divided by its peak.

    **Arguments:**

    - `latent`: the shared latent, shape `(latent_dim,)`.
    - `alignment`: in [0, 1].
    - `key`: keyword only. The key of the noise.
    - `sample_rate` (Hz), `duration` (s): keyword only.

    **Returns:**

    A float32 waveform of `int(sample_rate * duration)` samples in [-1, 1].

    ```python
    >>> import jax.random as jr
    >>> z = jr.normal(jr.key(0), (32,))
    >>> audio = audio_from_latent(z, 0.8, key=jr.key(1), sample_rate=4000, duration=0.5)
    >>> audio.shape, bool(abs(audio).max() <= 1)
    ((2000,), True)

    ```
    """
    alignment = _as_alignment(alignment)
    tone = audio_tone(latent, sample_rate, duration)
    noise = 0.1 * jr.normal(key, tone.shape, dtype=jnp.float32)
    wave = alignment * tone + (1 - alignment) * noise
    return jnp.clip(wave / (jnp.max(jnp.abs(wave)) + 1e-8), -1.0, 1.0)  # as `_minmax`


def _render_image(
    latent: Latent, alignment: ScalarLike, *, key: PRNGKeyArray, config: Any
) -> Image:
    return image_from_latent(latent, alignment, key=key, shape=config.image_shape)


def _render_text(
    latent: Latent, alignment: ScalarLike, *, key: PRNGKeyArray, config: Any
) -> Tokens:
    return text_from_latent(
        latent, alignment, key=key, vocab_size=config.vocab_size, seq_length=config.seq_length
    )


def _render_audio(
    latent: Latent, alignment: ScalarLike, *, key: PRNGKeyArray, config: Any
) -> Waveform:
    return audio_from_latent(
        latent, alignment, key=key, sample_rate=config.sample_rate, duration=config.duration
    )


#: How the guide's formulas render its three modalities (`config` a `SyntheticConfig`);
#: a modality of yours is rendered by its registered `Modality.render`.
GUIDE_RENDERERS = {"image": _render_image, "text": _render_text, "audio": _render_audio}


def sample_from_latent(latent: Latent, *, key: PRNGKeyArray, config: SyntheticConfig) -> Sample:
    """One aligned sample: every modality of `config` rendered from `latent`, image,
    text and audio by the guide's formulas, any other by its registered `render`
    function (`eqx_multimodal.modalities.Modality`).

    Each modality has its own key, whatever else is configured, so each has its own
    noise and the image of a sample does not depend on which other modalities are
    present: image, text and audio take the three keys of `jr.split(key, 3)` (as the
    data always has), any other modality `jr.fold_in(key, crc32(name))`.

    **Returns:**

    A dict with the configured modalities, then `"alignment_score"` (a float32 scalar)
    and `"latent"`.
    """
    keys = dict(zip(SPLIT_ORDER, jr.split(key, len(SPLIT_ORDER))))
    sample: Sample = {}
    for name in config.modalities:
        modality_key = keys.get(name)
        if modality_key is None:
            modality_key = jr.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)
        render = GUIDE_RENDERERS.get(name) or get_modality(name).render
        assert render is not None  # SyntheticConfig takes only renderable modalities
        sample[name] = render(latent, config.alignment, key=modality_key, config=config)
    sample["alignment_score"] = config.alignment
    sample["latent"] = latent
    return sample


def synthetic_item(
    index: Integer[Array, ""] | int, *, key: PRNGKeyArray, config: SyntheticConfig
) -> Sample:
    """Item `index` of the synthetic dataset with key `key`: a pure function of both.

    `fold_in(key, index)` is split into the latent's key and the sample's key, so item
    `i` is the same whether it is made alone, in a batch of any size, in any order or on
    any device: bit for bit, since it is always compiled (called outside `jax.jit`, it
    runs the compiled batch code on one item) and its sums run in a fixed order.
    Evaluated op by op (`jax.disable_jit`) its floats may differ in the last bits.

    **Arguments:**

    - `index`: a non-negative integer (may be traced).
    - `key`: keyword only. The dataset's key.
    - `config`: keyword only. A `SyntheticConfig`.

    **Returns:**

    The sample, as `sample_from_latent` returns it.

    ```python
    >>> import jax.random as jr
    >>> config = SyntheticConfig(modalities=["image", "text"], alignment=0.5)
    >>> item = synthetic_item(7, key=jr.key(0), config=config)
    >>> sorted(item)
    ['alignment_score', 'image', 'latent', 'text']

    ```
    """
    if not any(is_traced(x) for x in (index, key, config.alignment)):
        _check_call(index, key, config, "index", ndim=0)
        batch = render_batch(key, jnp.asarray([index], dtype=jnp.uint32), config)
        return ordered({name: value[0] for name, value in batch.items()}, config)
    return _render_item(index, key, config)


def _render_item(
    index: Integer[Array, ""] | int, key: PRNGKeyArray, config: SyntheticConfig
) -> Sample:
    item_key = jr.fold_in(key, index)
    latent_key, sample_key = jr.split(item_key)
    latent = jr.normal(latent_key, (config.latent_dim,), dtype=jnp.float32)
    return sample_from_latent(latent, key=sample_key, config=config)


def sample_keys(config: SyntheticConfig) -> tuple[str, ...]:
    """The keys of a sample of `config`, in the guide's order."""
    return (*config.modalities, "alignment_score", "latent")


def synthetic_batch(
    indices: Integer[Array, " batch"], *, key: PRNGKeyArray, config: SyntheticConfig
) -> Sample:
    """Items `indices` of the synthetic dataset with key `key`, stacked along axis 0.

    Compiled once per configuration shape and batch size: the key, the indices and the
    alignment are traced, so datasets of other seeds or alignments reuse the code.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> config = SyntheticConfig(modalities=["text"])
    >>> synthetic_batch(jnp.arange(4), key=jr.key(0), config=config)["text"].shape
    (4, 50)

    ```
    """
    _check_call(indices, key, config, "indices", ndim=1)
    batch = render_batch(key, indices, config)
    # Pytrees sort dict keys; give them back in the guide's order.
    return ordered(batch, config)


#: Items are numbered by 32-bit unsigned integers (`fold_in` takes 32 bits).
MAX_INDEX = 2**32 - 1


def _check_call(indices: Any, key: Any, config: Any, name: str, *, ndim: int) -> None:
    """Concrete arguments of `synthetic_item` / `synthetic_batch`: integer indices in
    [0, 2**32) (never wrapped around: index 2**32 would silently be item 0), a key and a
    `SyntheticConfig`. Traced ones are the caller's to check."""
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"`config` must be a SyntheticConfig, got {config!r:.60}")
    if not is_traced(key):
        check_key(key)
    if is_traced(indices):
        return
    what = "an integer" if ndim == 0 else "a 1-D array of integers (item positions)"
    if isinstance(indices, bool | str | bytes):
        raise TypeError(f"`{name}` must be {what}, got {indices!r:.60}")
    try:
        values = np.asarray(indices)
    except (ValueError, TypeError, OverflowError):
        raise TypeError(f"`{name}` must be {what}, got {indices!r:.60}") from None
    if values.ndim != ndim or values.dtype == np.bool_ or values.dtype.kind not in "iuO":
        raise TypeError(f"`{name}` must be {what}, got {_shown(indices)}")
    if values.dtype.kind == "O":  # Python integers beyond 64 bits (or anything else)
        flat = values.reshape(-1).tolist()
        if any(isinstance(v, bool) or not isinstance(v, int) for v in flat):
            raise TypeError(f"`{name}` must be {what}, got {_shown(indices)}")
        low, high = (min(flat), max(flat)) if flat else (0, 0)
    else:
        low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if low < 0 or high > MAX_INDEX:
        within = "an integer" if ndim == 0 else "integers"
        raise ValueError(f"`{name}` must be {within} in [0, 2**32 - 1], got {_shown(indices)}")


def _shown(value: Any) -> str:
    if isinstance(value, np.ndarray | jax.Array):
        flat = np.asarray(value).reshape(-1)
        return f"an array of shape {value.shape} and dtype {value.dtype}: {flat[:4].tolist()}"
    return f"{value!r:.60}"


def ordered(batch: Sample, config: SyntheticConfig) -> Sample:
    """`batch` with its keys in the guide's order (pytrees sort them)."""
    return {name: batch[name] for name in sample_keys(config)}


@eqx.filter_jit
def render_batch(
    key: PRNGKeyArray, indices: Integer[Array, " batch"], config: SyntheticConfig
) -> Sample:
    """`synthetic_batch` as one compiled function (keys in pytree order)."""
    indices = jnp.asarray(indices).astype(jnp.uint32)
    return jax.vmap(lambda i: _render_item(i, key, config))(indices)

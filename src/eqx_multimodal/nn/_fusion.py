"""Fusion of modality features: early, late, multi-head attention and gated."""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._types import Embedding
from .._validation import check_choice, check_int, check_key, check_real, is_traced
from ._layers import biased_attention, check_heads


def early_fusion(*features: Array) -> Float[Array, " n"]:
    """Flatten every input and concatenate them (the guide's early fusion).

    Integer inputs (tokens) are converted to float32.

    ```python
    >>> import jax.numpy as jnp
    >>> early_fusion(jnp.zeros((2, 2, 3)), jnp.arange(4), jnp.ones(5)).shape
    (21,)

    ```
    """
    if not features:
        raise ValueError("`early_fusion` needs at least one input")
    _check_arrays(features, "early_fusion")
    return jnp.concatenate([jnp.ravel(f).astype(jnp.float32) for f in features])


def _check_arrays(values: tuple, name: str) -> None:
    """Arrays as separate arguments: a list of them is one argument, not several."""
    for value in values:
        if not isinstance(value, jax.Array | np.ndarray | np.generic | float | int):
            raise TypeError(
                f"`{name}` takes arrays as separate arguments (`{name}(a, b)`, or "
                f"`{name}(*arrays)`), got {type(value).__name__} {value!r:.40}"
            )


#: The guide's weights for (image, text, audio).
GUIDE_WEIGHTS = (0.4, 0.4, 0.2)


def late_fusion(
    *embeddings: Embedding,
    mode: str = "weighted",
    weights: Sequence[float | int] | Float[Array, " modalities"] | None = None,
) -> Float[Array, " out"]:
    """Combine embeddings of the same size from separate encoders.

    **Arguments:**

    - `*embeddings`: one `(d_model,)` embedding a modality.
    - `mode`: keyword only. `"concat"` (output `(k d_model,)`), `"mean"`, or
        `"weighted"` (the default, as in the guide).
    - `weights`: keyword only. For `"weighted"`: one non-negative weight an embedding.
        Default: the guide's `(0.4, 0.4, 0.2)` for three embeddings, equal weights
        otherwise.

    ```python
    >>> import jax.numpy as jnp
    >>> late_fusion(jnp.ones(4), jnp.zeros(4), jnp.ones(4))
    Array([0.6, 0.6, 0.6, 0.6], dtype=float32)

    ```
    """
    check_choice(mode, "mode", ("concat", "mean", "weighted"))
    if not embeddings:
        raise ValueError("`late_fusion` needs at least one embedding")
    _check_arrays(embeddings, "late_fusion")
    shapes = {e.shape for e in embeddings}
    if len(shapes) != 1:
        raise ValueError(f"embeddings must all have the same shape, got {sorted(shapes)}")
    if mode == "concat":
        return jnp.concatenate(embeddings)
    stacked = jnp.stack(embeddings)
    if mode == "mean":
        return jnp.mean(stacked, axis=0)
    if weights is None:
        k = len(embeddings)
        weights = GUIDE_WEIGHTS if k == 3 else (1.0 / k,) * k
    if is_traced(weights):
        w = jnp.asarray(weights, dtype=stacked.dtype)
    else:
        w_np = np.asarray(weights, dtype=np.float64)
        if w_np.shape != (len(embeddings),):
            raise ValueError(
                f"`weights` must have one entry an embedding ({len(embeddings)}), got "
                f"shape {w_np.shape}"
            )
        if not np.all(np.isfinite(w_np)) or np.any(w_np < 0):
            raise ValueError(f"`weights` must be finite and non-negative, got {w_np.tolist()}")
        w = jnp.asarray(w_np, dtype=stacked.dtype)
    return jnp.tensordot(w, stacked, axes=1)


def _check_embeddings(embeddings: Array, num_modalities: int, d_model: int) -> None:
    expected = (num_modalities, d_model)
    if embeddings.shape != expected:
        raise ValueError(
            f"`embeddings` must be (num_modalities, d_model) = {expected}, one embedding a "
            f"modality, got shape {embeddings.shape}"
        )


def _present_mask(present: Array | None, num_modalities: int) -> Bool[Array, " modalities"]:
    if present is None:
        return jnp.ones(num_modalities, bool)
    present = jnp.asarray(present)
    if present.shape != (num_modalities,):
        raise ValueError(f"`present` must have shape ({num_modalities},), got {present.shape}")
    if present.dtype != jnp.bool_:
        # A float "mask" (0.5, or weights) is no mask: `astype(bool)` would call 0.5 present.
        raise TypeError(
            f"`present` must hold booleans, one a modality, got dtype {present.dtype} (for "
            "numbers, pass e.g. `present > 0`)"
        )
    return present


class AttentionFusion(eqx.Module):
    """Multi-head self-attention over the modality embeddings, then masked mean
    pooling and an output projection.

    Each modality's embedding is tagged with a learned modality-type embedding.
    Modalities can be missing (any subset, all but one included): a missing
    embedding is replaced by zeros before anything reads it, is masked out of the
    attention keys and of the pooling, and so gets exactly zero gradient. With no
    modality present the output is the projection of zeros, finite.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> fusion = AttentionFusion(64, num_heads=4, key=jr.key(0))
    >>> embeddings = jr.normal(jr.key(1), (3, 64))
    >>> fusion(embeddings, jnp.array([True, False, True])).shape
    (64,)

    ```
    """

    attention: eqx.nn.MultiheadAttention
    modality_embedding: Float[Array, "modalities d_model"]
    norm: eqx.nn.LayerNorm
    output: eqx.nn.Linear
    num_heads: int = eqx.field(static=True)
    num_modalities: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    dropout_p: float = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        num_heads: int = 4,
        num_modalities: int = 3,
        *,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_model`: the embedding size; must be divisible by `num_heads`.
        - `num_heads`: attention heads, each of size `d_model // num_heads`.
        - `num_modalities`: how many embeddings are fused.
        - `dropout`: keyword only. Dropout on the attention weights (needs a `key` at
            call time unless `inference=True`).
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_model = check_int(d_model, "d_model")
        check_heads(d_model, num_heads)
        self.num_heads = num_heads
        self.num_modalities = check_int(num_modalities, "num_modalities")
        self.dropout_p = check_real(dropout, "dropout", low=0.0, high=1.0)
        attention_key, type_key, output_key = jr.split(check_key(key), 3)
        self.attention = biased_attention(num_heads, d_model, dropout, key=attention_key)
        self.modality_embedding = 0.02 * jr.normal(type_key, (num_modalities, d_model))
        self.norm = eqx.nn.LayerNorm(d_model)
        self.output = eqx.nn.Linear(d_model, d_model, key=output_key)

    def __call__(
        self,
        embeddings: Float[Array, "modalities d_model"],
        present: Bool[Array, " modalities"] | None = None,
        *,
        key: PRNGKeyArray | None = None,
        inference: bool = False,
    ) -> Embedding:
        """**Arguments:**

        - `embeddings`: one embedding a modality, stacked: `(num_modalities, d_model)`.
        - `present`: which modalities are present (default: all).
        - `key`: keyword only. The dropout key (when dropout is on, not inference).
        - `inference`: keyword only. Turn dropout off.

        **Returns:**

        The fused embedding, `(d_model,)`.
        """
        _check_embeddings(embeddings, self.num_modalities, self.d_model)
        present = _present_mask(present, self.num_modalities)
        x = jnp.where(present[:, None], embeddings, 0.0) + self.modality_embedding
        x = jax.vmap(self.norm)(x)
        mask = jnp.broadcast_to(present[None, :], (self.num_modalities,) * 2)
        inference = inference or self.dropout_p == 0
        attended = self.attention(x, x, x, mask, key=key, inference=inference)
        weights = present.astype(attended.dtype)
        pooled = jnp.sum(attended * weights[:, None], axis=0) / jnp.maximum(jnp.sum(weights), 1.0)
        return self.output(pooled)


class GatedFusion(eqx.Module):
    """A learned, input-dependent convex combination of the modality embeddings.

    Each embedding is scored by a small MLP; a softmax over the present modalities
    turns the scores into gates. Missing modalities are zeroed and gated out, so they
    receive exactly zero gradient.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> fusion = GatedFusion(8, key=jr.key(0))
    >>> fusion.gates(jnp.ones((3, 8)), jnp.array([True, False, True])).tolist()
    [0.5, 0.0, 0.5]

    ```
    """

    score_hidden: eqx.nn.Linear
    score_out: eqx.nn.Linear
    modality_bias: Float[Array, " modalities"]
    output: eqx.nn.Linear
    num_modalities: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)

    def __init__(self, d_model: int, num_modalities: int = 3, *, key: PRNGKeyArray):
        """**Arguments:**

        - `d_model`: the embedding size.
        - `num_modalities`: how many embeddings are fused.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_model = check_int(d_model, "d_model")
        self.num_modalities = check_int(num_modalities, "num_modalities")
        hidden_key, out_key, output_key = jr.split(check_key(key), 3)
        self.score_hidden = eqx.nn.Linear(d_model, d_model, key=hidden_key)
        self.score_out = eqx.nn.Linear(d_model, "scalar", key=out_key)
        self.modality_bias = jnp.zeros(num_modalities)
        self.output = eqx.nn.Linear(d_model, d_model, key=output_key)

    def gates(
        self,
        embeddings: Float[Array, "modalities d_model"],
        present: Bool[Array, " modalities"] | None = None,
    ) -> Float[Array, " modalities"]:
        """The weight of each modality (zero for missing ones; they sum to 1 or 0)."""
        _check_embeddings(embeddings, self.num_modalities, self.d_model)
        present = _present_mask(present, self.num_modalities)
        x = jnp.where(present[:, None], embeddings, 0.0)
        scores = jax.vmap(lambda e: self.score_out(jnp.tanh(self.score_hidden(e))))(x)
        scores = jnp.where(present, scores + self.modality_bias, -jnp.inf)
        safe = jnp.where(jnp.any(present), scores, 0.0)
        return jnp.where(present, jax.nn.softmax(safe), 0.0)

    def __call__(
        self,
        embeddings: Float[Array, "modalities d_model"],
        present: Bool[Array, " modalities"] | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Embedding:
        """**Arguments:**

        - `embeddings`: one embedding a modality, stacked: `(num_modalities, d_model)`.
        - `present`: which modalities are present (default: all).
        - `key`: ignored (deterministic); accepted for a uniform interface.

        **Returns:**

        The fused embedding, `(d_model,)`.
        """
        del key
        _check_embeddings(embeddings, self.num_modalities, self.d_model)
        present = _present_mask(present, self.num_modalities)
        x = jnp.where(present[:, None], embeddings, 0.0)
        return self.output(self.gates(x, present) @ x)


class EarlyFusion(eqx.Module):
    """Early fusion as a module with a presence mask: the embeddings (missing ones
    zeroed) and the mask itself, concatenated and projected to `d_model`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> fusion = EarlyFusion(8, num_modalities=2, key=jr.key(0))
    >>> fusion(jnp.ones((2, 8)), jnp.array([True, False])).shape
    (8,)

    ```
    """

    projection: eqx.nn.Linear
    num_modalities: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)

    def __init__(self, d_model: int, num_modalities: int = 3, *, key: PRNGKeyArray):
        """**Arguments:**

        - `d_model`: the embedding size (in and out).
        - `num_modalities`: how many embeddings are fused.
        - `key`: keyword only. The key of the initialisation.
        """
        self.d_model = check_int(d_model, "d_model")
        self.num_modalities = check_int(num_modalities, "num_modalities")
        size = num_modalities * (d_model + 1)
        self.projection = eqx.nn.Linear(size, d_model, key=key)

    def __call__(
        self,
        embeddings: Float[Array, "modalities d_model"],
        present: Bool[Array, " modalities"] | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Embedding:
        """As for `GatedFusion`: the fused embedding, `(d_model,)`."""
        del key
        _check_embeddings(embeddings, self.num_modalities, self.d_model)
        present = _present_mask(present, self.num_modalities)
        x = jnp.where(present[:, None], embeddings, 0.0)
        flags = present.astype(x.dtype)[:, None]
        return self.projection(jnp.concatenate([x, flags], axis=1).reshape(-1))


class LateFusion(eqx.Module):
    """Late fusion as a module with a presence mask: the mean of the present
    embeddings, projected (zeros when none is present).

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> fusion = LateFusion(8, num_modalities=2, key=jr.key(0))
    >>> fusion(jnp.ones((2, 8)), jnp.array([True, False])).shape
    (8,)

    ```
    """

    output: eqx.nn.Linear
    num_modalities: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)

    def __init__(self, d_model: int, num_modalities: int = 3, *, key: PRNGKeyArray):
        """Arguments as for `EarlyFusion`."""
        self.d_model = check_int(d_model, "d_model")
        self.num_modalities = check_int(num_modalities, "num_modalities")
        self.output = eqx.nn.Linear(d_model, d_model, key=key)

    def __call__(
        self,
        embeddings: Float[Array, "modalities d_model"],
        present: Bool[Array, " modalities"] | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Embedding:
        """As for `GatedFusion`: the fused embedding, `(d_model,)`."""
        del key
        _check_embeddings(embeddings, self.num_modalities, self.d_model)
        present = _present_mask(present, self.num_modalities)
        weights = present.astype(embeddings.dtype)
        x = jnp.where(present[:, None], embeddings, 0.0)
        return self.output(jnp.sum(x, axis=0) / jnp.maximum(jnp.sum(weights), 1.0))

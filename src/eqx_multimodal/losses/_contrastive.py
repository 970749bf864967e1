"""Contrastive alignment of two batches of latents (rows are paired)."""

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float

from .._types import Scalar


Latents = Float[Array, "batch latent"]


def _valid(mask: Bool[Array, " batch"] | None, size: int) -> Bool[Array, " batch"]:
    return jnp.ones(size, bool) if mask is None else mask


def clip_loss(
    a: Latents,
    b: Latents,
    log_temperature: Float[Array, ""],
    mask: Bool[Array, " batch"] | None = None,
) -> Scalar:
    """The symmetric InfoNCE (CLIP) loss: row `i` of `a` should pick row `i` of `b` out
    of every row of `b`, and the other way round.

    **Arguments:**

    - `a`, `b`: paired, L2-normalised latents, `(batch, latent)`.
    - `log_temperature`: the logits are `exp(log_temperature) a @ b.T`.
    - `mask`: which pairs are present (both modalities there); absent rows are neither
        anchors nor negatives. With fewer than two present pairs the loss is 0.

    ```python
    >>> import jax.numpy as jnp
    >>> z = jnp.eye(4)
    >>> float(clip_loss(z, z, jnp.log(100.0))) < 1e-3
    True

    ```
    """
    valid = _valid(mask, a.shape[0])
    logits = jnp.exp(log_temperature) * (a @ b.T)
    pair = valid[:, None] & valid[None, :]
    logits = jnp.where(pair, logits, -1e9)
    labels = jnp.arange(a.shape[0])
    forward = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    backward = optax.softmax_cross_entropy_with_integer_labels(logits.T, labels)
    weights = valid.astype(logits.dtype)
    count = jnp.sum(weights)
    loss = jnp.sum((forward + backward) * weights) / (2 * jnp.maximum(count, 1.0))
    return jnp.where(count >= 2, loss, 0.0)


def siglip_loss(
    a: Latents,
    b: Latents,
    log_temperature: Float[Array, ""],
    bias: Float[Array, ""],
    mask: Bool[Array, " batch"] | None = None,
) -> Scalar:
    """The sigmoid (SigLIP) loss: every pair `(i, j)` is a binary classification,
    positive when `i == j`, with logits `exp(log_temperature) a_i . b_j + bias`.

    Averaged over anchors (present rows), as in the SigLIP paper.
    """
    valid = _valid(mask, a.shape[0])
    logits = jnp.exp(log_temperature) * (a @ b.T) + bias
    signs = 2 * jnp.eye(a.shape[0], dtype=logits.dtype) - 1
    losses = -jax.nn.log_sigmoid(signs * logits)
    pair = (valid[:, None] & valid[None, :]).astype(logits.dtype)
    return jnp.sum(losses * pair) / jnp.maximum(jnp.sum(valid.astype(logits.dtype)), 1.0)

"""Small building blocks shared by the encoders, decoders and fusion layers."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray


class ResidualMLPBlock(eqx.Module):
    """`x + W2 gelu(W1 layernorm(x))`: a pre-norm residual MLP block."""

    norm: eqx.nn.LayerNorm
    up: eqx.nn.Linear
    down: eqx.nn.Linear

    def __init__(self, width: int, hidden: int, *, key: PRNGKeyArray):
        up_key, down_key = jr.split(key)
        self.norm = eqx.nn.LayerNorm(width)
        self.up = eqx.nn.Linear(width, hidden, key=up_key)
        self.down = eqx.nn.Linear(hidden, width, key=down_key)

    def __call__(self, x: Float[Array, " width"]) -> Float[Array, " width"]:
        return x + self.down(jax.nn.gelu(self.up(self.norm(x))))


def biased_attention(
    num_heads: int, width: int, dropout: float, *, key: PRNGKeyArray
) -> eqx.nn.MultiheadAttention:
    """`eqx.nn.MultiheadAttention` with biases on every projection."""
    return eqx.nn.MultiheadAttention(
        num_heads,
        width,
        use_query_bias=True,
        use_key_bias=True,
        use_value_bias=True,
        use_output_bias=True,
        dropout_p=dropout,
        key=key,
    )


class TransformerBlock(eqx.Module):
    """A pre-norm transformer block: self-attention then an MLP, both residual."""

    attention_norm: eqx.nn.LayerNorm
    attention: eqx.nn.MultiheadAttention
    mlp_norm: eqx.nn.LayerNorm
    mlp_up: eqx.nn.Linear
    mlp_down: eqx.nn.Linear
    dropout: eqx.nn.Dropout
    # Static, so that with no dropout no key is ever needed, even under `jax.jit` (which
    # would trace the float inside `eqx.nn.Dropout`).
    dropout_p: float = eqx.field(static=True)

    def __init__(
        self, width: int, num_heads: int, mlp_ratio: int, dropout: float, *, key: PRNGKeyArray
    ):
        self.dropout_p = dropout
        attention_key, up_key, down_key = jr.split(key, 3)
        self.attention_norm = eqx.nn.LayerNorm(width)
        self.attention = biased_attention(num_heads, width, dropout, key=attention_key)
        self.mlp_norm = eqx.nn.LayerNorm(width)
        self.mlp_up = eqx.nn.Linear(width, mlp_ratio * width, key=up_key)
        self.mlp_down = eqx.nn.Linear(mlp_ratio * width, width, key=down_key)
        self.dropout = eqx.nn.Dropout(dropout)

    def __call__(
        self,
        x: Float[Array, "seq width"],
        mask: Bool[Array, "seq seq"],
        *,
        key: PRNGKeyArray | None,
        inference: bool,
    ) -> Float[Array, "seq width"]:
        attention_key, mlp_key = (None, None) if key is None else jr.split(key)
        inference = inference or self.dropout_p == 0
        h = jax.vmap(self.attention_norm)(x)
        x = x + self.attention(h, h, h, mask, key=attention_key, inference=inference)
        h = jax.vmap(self.mlp_norm)(x)
        h = jax.vmap(self.mlp_down)(jax.nn.gelu(jax.vmap(self.mlp_up)(h)))
        return x + self.dropout(h, key=mlp_key, inference=inference)


def make_stack(make: Callable[[PRNGKeyArray], eqx.Module], num: int, key: PRNGKeyArray):
    """`num` copies of a layer with their parameters stacked, for `scan_stack`."""
    return eqx.filter_vmap(make)(jr.split(key, num))


def scan_stack(
    stack: eqx.Module,
    x: Array,
    apply: Callable[[Any, Array, PRNGKeyArray | None], Array],
    *,
    key: PRNGKeyArray | None,
) -> Array:
    """Apply a stack of layers in turn with `jax.lax.scan`: compiled once, not per layer."""
    # `make_stack` stacks every array leaf, so the stacked leaves are exactly the arrays
    # with a leading axis. Other leaves (Python floats, which `jax.jit` turns into 0-d
    # tracers) are shared by every layer.
    params, static = eqx.partition(stack, lambda x: eqx.is_array(x) and x.ndim > 0)
    num = jax.tree.leaves(params)[0].shape[0]
    keys = None if key is None else jr.split(key, num)

    def step(h, inputs):
        layer_params, layer_key = inputs
        return apply(eqx.combine(layer_params, static), h, layer_key), None

    out, _ = jax.lax.scan(step, x, (params, keys))
    return out


def masked_mean(x: Float[Array, "seq width"], valid: Bool[Array, " seq"]) -> Float[Array, " width"]:
    """The mean of the valid rows (zeros when none is valid)."""
    weights = valid.astype(x.dtype)
    return jnp.sum(x * weights[:, None], axis=0) / jnp.maximum(jnp.sum(weights), 1.0)

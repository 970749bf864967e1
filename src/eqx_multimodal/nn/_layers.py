"""Small building blocks shared by the encoders, decoders and fusion layers."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._types import Embedding
from .._validation import check_int


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


def check_heads(width: int, num_heads: int, name: str = "d_model") -> None:
    """`width` splits evenly into `num_heads` attention heads."""
    check_int(num_heads, "num_heads")
    if width % num_heads != 0:
        raise ValueError(
            f"`{name}` must be divisible by `num_heads`, got {name}={width} and "
            f"num_heads={num_heads}"
        )


def groups(channels: int) -> int:
    """The largest GroupNorm group count <= 8 that divides `channels`."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ConvResidualBlock(eqx.Module):
    """`x + conv(gelu(norm(conv(gelu(norm(x))))))`, 3x3 convolutions with GroupNorm."""

    norm1: eqx.nn.GroupNorm
    conv1: eqx.nn.Conv2d
    norm2: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d

    def __init__(self, channels: int, *, key: PRNGKeyArray):
        key1, key2 = jr.split(key)
        self.norm1 = eqx.nn.GroupNorm(groups(channels), channels)
        self.conv1 = eqx.nn.Conv2d(channels, channels, 3, padding=1, key=key1)
        self.norm2 = eqx.nn.GroupNorm(groups(channels), channels)
        self.conv2 = eqx.nn.Conv2d(channels, channels, 3, padding=1, key=key2)

    def __call__(self, x: Float[Array, "c h w"]) -> Float[Array, "c h w"]:
        h = self.conv1(jax.nn.gelu(self.norm1(x)))
        return x + self.conv2(jax.nn.gelu(self.norm2(h)))


class ResidualMLP(eqx.Module):
    """`d_in -> hidden -> [residual blocks] -> d_out`."""

    input: eqx.nn.Linear
    blocks: tuple[ResidualMLPBlock, ...]
    output: eqx.nn.Linear

    def __init__(self, d_in: int, hidden: int, d_out: int, num_blocks: int, *, key: PRNGKeyArray):
        input_key, output_key, *block_keys = jr.split(key, 2 + num_blocks)
        self.input = eqx.nn.Linear(d_in, hidden, key=input_key)
        self.blocks = tuple(ResidualMLPBlock(hidden, hidden, key=k) for k in block_keys)
        self.output = eqx.nn.Linear(hidden, d_out, key=output_key)

    def __call__(self, x: Float[Array, " d_in"]) -> Float[Array, " d_out"]:
        h = jax.nn.relu(self.input(x))
        for block in self.blocks:
            h = block(h)
        return self.output(h)


class DeepSet(eqx.Module):
    """A shared two-layer MLP on each element of a set, pooled by weight, then a linear
    head: a function of the set that does not depend on its order."""

    first: eqx.nn.Linear
    second: eqx.nn.Linear
    head: eqx.nn.Linear

    def __init__(self, features: int, hidden: int, d_model: int, *, key: PRNGKeyArray):
        first_key, second_key, head_key = jr.split(key, 3)
        self.first = eqx.nn.Linear(features, hidden, key=first_key)
        self.second = eqx.nn.Linear(hidden, hidden, key=second_key)
        self.head = eqx.nn.Linear(hidden, d_model, key=head_key)

    def encode(self, elements: Float[Array, "n f"]) -> Float[Array, "n hidden"]:
        h = jax.nn.gelu(jax.vmap(self.first)(elements))
        return jax.nn.gelu(jax.vmap(self.second)(h))

    def pool(self, h: Float[Array, "n hidden"], weight: Float[Array, " n"]) -> Embedding:
        return self.head(jnp.sum(h * weight[:, None], axis=0) / (jnp.sum(weight) + 1e-6))

    def __call__(self, elements: Float[Array, "n f"], weight: Float[Array, " n"]) -> Embedding:
        return self.pool(self.encode(elements), weight)


class ElementMLP(eqx.Module):
    """Two GELU layers applied to each element of a set, `(n, features) -> (n, hidden)`."""

    first: eqx.nn.Linear
    second: eqx.nn.Linear

    def __init__(self, features: int, hidden: int, *, key: PRNGKeyArray):
        k1, k2 = jr.split(key)
        self.first = eqx.nn.Linear(features, hidden, key=k1)
        self.second = eqx.nn.Linear(hidden, hidden, key=k2)

    def __call__(self, elements: Float[Array, "n f"]) -> Float[Array, "n hidden"]:
        h = jax.nn.gelu(jax.vmap(self.first)(elements))
        return jax.nn.gelu(jax.vmap(self.second)(h))

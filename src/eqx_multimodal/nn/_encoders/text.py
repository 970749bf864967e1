"""Text encoders: a generic transformer and a bag of tokens (the guide's centred bag and
group-count set tower are in `eqx_multimodal.guide.towers`)."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PRNGKeyArray

from ..._types import Embedding, Tokens
from ..._validation import check_int, check_real
from .._base import AbstractEncoder
from .._layers import check_heads, make_stack, masked_mean, scan_stack, TransformerBlock


class TextEncoder(AbstractEncoder):
    """Token + positional embeddings, pre-norm transformer blocks over the sequence
    (scanned, so compile time does not grow with depth), masked mean pooling over the
    tokens that are not padding, and a projection to `d_model`.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> encoder = TextEncoder(1000, 64, 50, pad_id=0, key=jr.key(0))
    >>> encoder(jnp.arange(50)).shape
    (64,)

    ```
    """

    token_embedding: eqx.nn.Embedding
    position_embedding: eqx.nn.Embedding
    blocks: TransformerBlock | None
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    max_length: int = eqx.field(static=True)
    pad_id: int | None = eqx.field(static=True)
    num_layers: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        max_length: int,
        *,
        width: int | None = None,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        pad_id: int | None = None,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `vocab_size`: tokens are in `[0, vocab_size)`.
        - `d_model`: the embedding size.
        - `max_length`: the longest sequence accepted.
        - `width`: keyword only. The transformer width (default `d_model`); must divide
            by `num_heads`.
        - `num_layers`, `num_heads`, `mlp_ratio`, `dropout`: keyword only.
        - `pad_id`: keyword only. A token id that marks padding: it is masked out of
            attention and pooling. `None`: no padding.
        - `key`: keyword only. The key of the initialisation.
        """
        vocab_size = check_int(vocab_size, "vocab_size")
        self.d_model = check_int(d_model, "d_model")
        self.max_length = check_int(max_length, "max_length")
        width = d_model if width is None else check_int(width, "width")
        check_heads(width, num_heads, "width" if width != d_model else "d_model")
        self.num_layers = check_int(num_layers, "num_layers", minimum=0)
        check_real(dropout, "dropout", low=0.0, high=1.0)
        if pad_id is not None:
            check_int(pad_id, "pad_id", minimum=0)
            if pad_id >= vocab_size:
                raise ValueError(f"`pad_id` must be < vocab_size={vocab_size}, got {pad_id}")
        self.pad_id = pad_id
        token_key, position_key, block_key, head_key = jr.split(key, 4)
        self.token_embedding = eqx.nn.Embedding(vocab_size, width, key=token_key)
        self.position_embedding = eqx.nn.Embedding(self.max_length, width, key=position_key)
        self.blocks = (
            make_stack(
                lambda k: TransformerBlock(width, num_heads, mlp_ratio, dropout, key=k),
                self.num_layers,
                block_key,
            )
            if self.num_layers > 0
            else None
        )
        self.norm = eqx.nn.LayerNorm(width)
        self.head = eqx.nn.Linear(width, d_model, key=head_key)

    def __call__(
        self, tokens: Tokens, *, key: PRNGKeyArray | None = None, inference: bool = False
    ) -> Embedding:
        """**Arguments:**

        - `tokens`: one sequence of token ids, at most `max_length` long.
        - `key`: keyword only. The dropout key; needed when dropout is on and
            `inference` is false.
        - `inference`: keyword only. Turn dropout off.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        length = tokens.shape[0]
        if length > self.max_length:
            raise ValueError(
                f"`tokens` has length {length}, longer than max_length={self.max_length}"
            )
        valid = jnp.ones(length, bool) if self.pad_id is None else tokens != self.pad_id
        x = jax.vmap(self.token_embedding)(tokens) + jax.vmap(self.position_embedding)(
            jnp.arange(length)
        )
        mask = jnp.broadcast_to(valid[None, :], (length, length))
        if self.blocks is not None:
            x = scan_stack(
                self.blocks,
                x,
                lambda block, h, k: block(h, mask, key=k, inference=inference),
                key=key,
            )
        return self.head(self.norm(masked_mean(x, valid)))


class TokenBagEncoder(AbstractEncoder):
    """The guide's text encoder: a token embedding, mean-pooled, then a linear map.

    Order-free (a bag of tokens), and padding-aware when `pad_id` is set.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> TokenBagEncoder(100, 16, 8, key=jr.key(0))(jnp.arange(5)).shape
    (8,)

    ```
    """

    embedding: eqx.nn.Embedding
    linear: eqx.nn.Linear
    pad_id: int | None = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        d_model: int,
        *,
        pad_id: int | None = None,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `vocab_size`: tokens are in `[0, vocab_size)`.
        - `embed_dim`: the width of the token embedding.
        - `d_model`: the embedding size.
        - `pad_id`: keyword only. A token id that marks padding (left out of the mean).
        - `key`: keyword only. The key of the initialisation.
        """
        check_int(vocab_size, "vocab_size")
        check_int(embed_dim, "embed_dim")
        self.d_model = check_int(d_model, "d_model")
        if pad_id is not None:
            check_int(pad_id, "pad_id", minimum=0)
        self.pad_id = pad_id
        embedding_key, linear_key = jr.split(key)
        self.embedding = eqx.nn.Embedding(vocab_size, embed_dim, key=embedding_key)
        self.linear = eqx.nn.Linear(embed_dim, d_model, key=linear_key)

    def __call__(self, tokens: Tokens, *, key: PRNGKeyArray | None = None) -> Embedding:
        """**Arguments:**

        - `tokens`: one sequence of token ids.
        - `key`: ignored (deterministic); accepted for a uniform encoder interface.

        **Returns:**

        The embedding, `(d_model,)`.
        """
        del key
        valid = jnp.ones(tokens.shape, bool) if self.pad_id is None else tokens != self.pad_id
        return self.linear(masked_mean(jax.vmap(self.embedding)(tokens), valid))

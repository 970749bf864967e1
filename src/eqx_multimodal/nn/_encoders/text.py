"""Text encoders: a generic transformer, the guide's bag of tokens, and two towers fitted
to the guide's i.i.d. tokens: the centred bag and the group-count set tower."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

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


class CentredBagEncoder(AbstractEncoder):
    """A centred bag of tokens plus a learned constant: the mean embedding of the tokens
    minus the mean embedding of the vocabulary, a linear map without bias, then `offset`.
    The default text tower for the guide's synthetic text (i.i.d. tokens).

    The guide's text has log-likelihood `sum_j n_j a z_j - L log sum_j c_j exp(a z_j)`
    given the latent (token counts `n_j` per group), and the embedding follows its form:

    - The centred part is linear in how far the token counts are from uniform (a text
      drawn uniformly, at alignment 0, maps to about 0 before the offset): the first term.
    - `offset` is the same for every text, so its dot product with the other modality's
      latent is a score that depends only on that item: the second term. Centring
      captures that term only to first order (it subtracts `L c_j / V` from each count,
      linear in `z`); scored that way, even the true latent loses a third of its
      text -> image recall@10 (`benchmarks/text_information.py`). It starts at zero,
      so training starts from the centred tower: an earlier tower with biases at their
      usual random start mapped every text to nearly one direction (mean cosine 0.997
      after 300 steps) and its text terms stayed at chance.
    - The token embeddings start small (`embed_scale`): Adam moves every entry by about
      the learning rate a step, so embeddings drawn at scale 1 stay mostly random for
      hundreds of steps, and the embedding of a text is then a random projection of its
      1000 token counts rather than of what they say.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> encoder = CentredBagEncoder(100, 8, key=jr.key(0))
    >>> encoder(jnp.arange(5)).shape
    (8,)

    ```
    """

    embedding: Float[Array, "vocab embed"]
    linear: eqx.nn.Linear
    offset: Float[Array, " d_model"]
    d_model: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        *,
        embed_dim: int = 128,
        embed_scale: float = 0.02,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `vocab_size`: tokens are in `[0, vocab_size)`.
        - `d_model`: the embedding size.
        - `embed_dim`: keyword only. The width of the token embedding.
        - `embed_scale`: keyword only. The standard deviation of the initial embedding.
        - `key`: keyword only. The key of the initialisation.
        """
        check_int(vocab_size, "vocab_size")
        self.d_model = check_int(d_model, "d_model")
        check_int(embed_dim, "embed_dim")
        check_real(embed_scale, "embed_scale", low=0.0, low_open=True)
        embedding_key, linear_key = jr.split(key)
        self.embedding = embed_scale * jr.normal(
            embedding_key, (vocab_size, embed_dim), dtype=jnp.float32
        )
        self.linear = eqx.nn.Linear(embed_dim, d_model, use_bias=False, key=linear_key)
        self.offset = jnp.zeros(d_model, dtype=jnp.float32)

    def centred(self, tokens: Tokens) -> Embedding:
        """The part of the embedding that depends on the text (0 for a uniform bag)."""
        centred = jnp.mean(self.embedding[tokens], axis=0) - jnp.mean(self.embedding, axis=0)
        return self.linear(centred)

    def __call__(self, tokens: Tokens, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        return self.centred(tokens) + self.offset


def group_counts(tokens: Tokens, groups: int) -> Float[Array, " groups"]:
    """How many tokens fall in each group `t % groups`."""
    return jnp.zeros(groups, jnp.float32).at[tokens % groups].add(1.0)


class GroupCountEncoder(AbstractEncoder):
    """The guide's text as token counts per group (`t % groups`: the guide's token
    logits depend on a token only through its group), then three parts, summed:

    - for the first `shown` groups (those the image and audio show), learned
      embeddings of `(group, count)` plus an embedding of the count shared by all
      groups: any function `sum_j f_j(n_j)` of the counts, nonlinear in them (the
      audio's tones are a set, so a text-audio score must be);
    - a linear map of the shown groups' counts sorted (for the sorted matching of
      counts to tones);
    - a linear map of the other groups' counts.

    Counts above `max_count` share the last embedding. The embeddings and the sorted
    map start at zero.

    ```python
    >>> import jax.numpy as jnp
    >>> import jax.random as jr
    >>> encoder = GroupCountEncoder(32, 64, key=jr.key(0))
    >>> encoder(jnp.arange(50)).shape
    (64,)

    ```
    """

    embedding: Float[Array, "shown counts d_model"]
    shared: Float[Array, "counts d_model"]
    rest: eqx.nn.Linear
    sorted: eqx.nn.Linear
    groups: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    shown: int = eqx.field(static=True)
    max_count: int = eqx.field(static=True)
    modality: ClassVar[str] = "text"

    def __init__(
        self,
        groups: int,
        d_model: int,
        *,
        shown: int = 10,
        max_count: int = 11,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `groups`: the number of token groups (the guide's `latent_dim`, at most its
            vocabulary).
        - `d_model`: the embedding size.
        - `shown`: keyword only. Groups with their own count embeddings (the guide's
            audio shows 10 latents); at most `groups`.
        - `max_count`: keyword only. Counts above it share one embedding.
        - `key`: keyword only. The key of the initialisation.
        """
        self.groups = check_int(groups, "groups")
        self.d_model = check_int(d_model, "d_model")
        self.shown = check_int(shown, "shown", maximum=self.groups)
        self.max_count = check_int(max_count, "max_count")
        self.embedding = jnp.zeros((self.shown, self.max_count + 1, self.d_model), jnp.float32)
        self.shared = jnp.zeros((self.max_count + 1, self.d_model), jnp.float32)
        self.rest = eqx.nn.Linear(
            max(self.groups - self.shown, 1), self.d_model, use_bias=False, key=key
        )
        self.sorted = eqx.nn.Linear(
            self.shown, self.d_model, use_bias=False, key=jr.fold_in(key, 1)
        )
        zero = jnp.zeros_like(self.sorted.weight)
        self.sorted = eqx.tree_at(lambda m: m.weight, self.sorted, zero)

    def encode(self, counts: Float[Array, " groups"]) -> Embedding:
        """The embedding of a text's group counts."""
        shown = jnp.minimum(counts[: self.shown], self.max_count).astype(jnp.int32)
        rows = self.embedding[jnp.arange(self.shown), shown] + self.shared[shown]
        rest = counts[self.shown :] if self.groups > self.shown else jnp.zeros(1)
        ranked = jnp.sort(counts[: self.shown])
        return jnp.sum(rows, axis=0) + self.rest(rest / 10) + self.sorted(ranked / 5)

    def __call__(self, x: Tokens, *, key: PRNGKeyArray | None = None) -> Embedding:
        del key
        if x.ndim != 1:
            raise ValueError(f"expected one sequence of token ids, got shape {x.shape}")
        return self.encode(group_counts(x, self.groups))

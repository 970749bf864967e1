"""The re-ranking seam: a second stage of retrieval that `evaluate` may run.

A two-tower model scores every pair of a gallery by one dot product. A re-ranker
re-scores each query's best candidates with something the towers cannot express (a
verifier, a cross-encoder), for the ordered pairs of modalities it declares; `evaluate`
asks it which pairs those are and never names a modality or a tower itself. The guide's
`guide.SetReranker` is one.
"""

import abc
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import Float

from ..nn import SharedLatentModel


def bucket(count: int, largest: int) -> int:
    """Rows computed at a time for `count` rows: the smallest power of two that holds them
    (at least 16), at most `largest`. Padding to a few sizes keeps compilations few
    without computing thousands of padded rows for a small gallery.

    ```python
    >>> bucket(5, 256), bucket(100, 256), bucket(1000, 256)
    (16, 128, 256)

    ```
    """
    return min(largest, max(16, 1 << max(count - 1, 0).bit_length()))


class AbstractReranker(eqx.Module):
    """A second stage of cross-modal retrieval, passed to `evaluate(..., reranker=...)`:
    for the ordered pairs it declares (`pairs`), each query's `top` two-tower candidates
    are re-scored and placed first; the rest keep the two-tower order.

    `evaluate` calls `prepare` once for the items of a pair (the gallery's rows that
    hold both modalities; a pair and its reverse share them), then `rescore` for each
    direction.
    """

    @abc.abstractmethod
    def pairs(self, model: SharedLatentModel) -> tuple[tuple[str, str], ...]:
        """The ordered pairs `(query, gallery)` of `model` this re-ranker re-scores;
        none when it does not apply to the model."""

    @abc.abstractmethod
    def prepare(self, model: SharedLatentModel, items: dict[str, np.ndarray]) -> Any:
        """What re-scoring needs of a gallery: `items` holds the rows of the pair's two
        modalities (NumPy arrays with a leading axis of items)."""

    @abc.abstractmethod
    def rescore(
        self,
        model: SharedLatentModel,
        prepared: Any,
        scores: Float[np.ndarray, "queries gallery"],
        query: str,
        gallery: str,
        *,
        top: int,
        weight: float,
    ) -> np.ndarray:
        """The scores of `query -> gallery` (`scores` from the two towers), each query's
        `top` candidates re-scored and placed first; `weight` weighs the two-tower
        score beside the re-ranker's own."""

"""Retrieval judged by labels: does the top hit share the query's class, and can a
model classify from the names of the classes alone (zero-shot)?"""

import numpy as np
from jaxtyping import Array, Float, Int


def _top_hits(scores: np.ndarray) -> np.ndarray:
    """The column of each row's highest score; a row with a NaN hits nothing (-1)."""
    hits = np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=1)
    return np.where(np.isnan(scores).any(axis=1), -1, hits)


def label_precision(
    queries: Float[Array | np.ndarray, "queries latent"],
    gallery: Float[Array | np.ndarray, "gallery latent"],
    query_labels: Int[Array | np.ndarray, " queries"],
    gallery_labels: Int[Array | np.ndarray, " gallery"],
) -> dict[str, float]:
    """Label-level retrieval: `precision@1`, the share of queries whose most similar
    gallery item (by dot product) has the query's label.

    Queries and gallery items without a label (-1) are left out.

    ```python
    >>> import numpy as np
    >>> queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> gallery = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    >>> label_precision(queries, gallery, np.array([0, 1]), np.array([0, 0, 1]))
    {'precision@1': 1.0, 'queries': 2}

    ```
    """
    q_labels, g_labels = np.asarray(query_labels), np.asarray(gallery_labels)
    keep_q, keep_g = q_labels >= 0, g_labels >= 0
    if not keep_q.any() or not keep_g.any():
        return {"precision@1": float("nan"), "queries": 0}
    scores = np.asarray(queries, np.float64)[keep_q] @ np.asarray(gallery, np.float64)[keep_g].T
    hits = _top_hits(scores)
    labels = g_labels[keep_g]
    correct = (hits >= 0) & (labels[np.maximum(hits, 0)] == q_labels[keep_q])
    return {"precision@1": float(np.mean(correct)), "queries": int(keep_q.sum())}


def zero_shot_accuracy(
    embeddings: Float[Array | np.ndarray, "items latent"],
    class_embeddings: Float[Array | np.ndarray, "classes latent"],
    labels: Int[Array | np.ndarray, " items"],
) -> dict[str, float]:
    """Zero-shot classification: each item gets the class whose embedding (of the
    class's name, as text) is most similar; `accuracy` is the share that is right.

    Items without a label (-1) are left out.

    ```python
    >>> import numpy as np
    >>> classes = np.eye(2)
    >>> zero_shot_accuracy(np.array([[0.9, 0.1], [0.3, 0.7]]), classes, np.array([0, 0]))
    {'accuracy': 0.5, 'items': 2}

    ```
    """
    labels = np.asarray(labels)
    keep = labels >= 0
    if not keep.any():
        return {"accuracy": float("nan"), "items": 0}
    scores = np.asarray(embeddings, np.float64)[keep] @ np.asarray(class_embeddings, np.float64).T
    predicted = _top_hits(scores)
    return {"accuracy": float(np.mean(predicted == labels[keep])), "items": int(keep.sum())}

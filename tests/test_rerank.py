"""The re-ranking seam: `evaluate` re-scores the pairs a re-ranker declares, and only
those; it names no modality and no tower itself."""

import jax.random as jr
import numpy as np

import eqx_multimodal as em
from eqx_multimodal.guide import SetReranker
from eqx_multimodal.nn import SharedLatentModel
from eqx_multimodal.training import AbstractReranker, evaluate


class Reverse(AbstractReranker):
    """Puts each query's true partner (the same row) first among its top candidates."""

    pair: tuple[str, str]

    def pairs(self, model):
        return (self.pair,)

    def prepare(self, model, items):
        return sorted(items)

    def rescore(self, model, prepared, scores, query, gallery, *, top, weight):
        assert prepared == sorted({query, gallery})
        out = np.asarray(scores, np.float64).copy()
        out[np.arange(len(out)), np.arange(len(out))] = np.abs(out).max() + 1.0
        return out


def test_evaluate_reranks_only_the_declared_pairs():
    rng = np.random.default_rng(0)
    data = em.PairedDataset(
        {
            "image": rng.uniform(size=(12, 8, 8, 1)).astype(np.float32),
            "text": rng.integers(0, 12, (12, 5)).astype(np.int32),
        }
    )
    model = SharedLatentModel(data.spec, latent_dim=8, d_model=16, decoders=False, key=jr.key(0))
    plain = evaluate(model, data)
    assert "retrieval_two_tower" not in plain
    result = evaluate(model, data, reranker=Reverse(("text", "image")))
    assert set(result["retrieval_two_tower"]) == {"text->image"}
    assert result["retrieval"]["text->image"]["recall@1"] == 1.0
    assert result["retrieval"]["image->text"] == plain["retrieval"]["image->text"]
    assert result["retrieval_two_tower"]["text->image"] == plain["retrieval"]["text->image"]
    off = evaluate(model, data, reranker=Reverse(("text", "image")), rerank_top=0)
    assert off["retrieval"] == plain["retrieval"]
    # The guide's re-ranker declares no pair for towers it cannot verify.
    assert SetReranker().pairs(model) == ()

import jax.numpy as jnp
import numpy as np
import pytest

import eqx_multimodal as em

from .helpers import tree_equal


N = 6


def _data(n=N):
    return {
        "image": jnp.arange(n * 4 * 4 * 3, dtype=jnp.float32).reshape(n, 4, 4, 3),
        "text": jnp.arange(n * 5, dtype=jnp.int32).reshape(n, 5),
        "audio": jnp.linspace(-1, 1, n * 20, dtype=jnp.float32).reshape(n, 20),
    }


def test_sample_carries_scores_and_pairs():
    pairs = [("image", "text"), ("image", "audio"), ("text", "audio")]
    dataset = em.PairedDataset(_data(), pairs=pairs, alignments=jnp.linspace(0, 1, N))
    sample = dataset[2]
    assert sample["image"].shape == (4, 4, 3)
    assert sample["text"].shape == (5,) and sample["audio"].shape == (20,)
    assert float(sample["alignment_score"]) == pytest.approx(0.4)
    assert sample["pairs"] == pairs
    np.testing.assert_array_equal(sample["text"], _data()["text"][2])


def test_defaults():
    dataset = em.PairedDataset(_data())
    assert dataset.pairs == (("image", "text"), ("image", "audio"), ("text", "audio"))
    assert float(dataset[0]["alignment_score"]) == 1.0
    assert len(dataset) == N and dataset.modalities == ("image", "text", "audio")


def test_batches_slices_iteration(getkey):
    dataset = em.PairedDataset(_data(), alignments=np.linspace(0, 1, N))
    assert dataset[1:4]["image"].shape == (3, 4, 4, 3)
    assert dataset[1:4]["pairs"] == [("image", "text"), ("image", "audio"), ("text", "audio")]
    items = list(dataset)
    assert len(items) == N and tree_equal(items[-1]["text"], dataset[-1]["text"])
    seen = np.concatenate([b["text"][:, 0] for b in dataset.batches(4, key=getkey())])
    np.testing.assert_array_equal(np.sort(seen), np.asarray(_data()["text"][:, 0]))


def test_unequal_lengths_name_the_modality_and_both_lengths():
    data = _data()
    data["audio"] = data["audio"][:4]
    with pytest.raises(ValueError, match="'image' has 6, 'audio' has 4"):
        em.PairedDataset(data)


BAD = [
    (dict(pairs=[("image", "video")]), ValueError, "names modality 'video', which is not in"),
    (dict(pairs=[("image",)]), ValueError, r"`pairs` entries must be \(modality, modality\)"),
    (dict(pairs=[("image", "image")]), ValueError, "pairs a modality with itself"),
    (dict(pairs="image,text"), TypeError, "`pairs` must be a list"),
    (dict(alignments=jnp.ones(5)), ValueError, r"`alignments` must have shape \(6,\)"),
    (dict(alignments=jnp.full(N, 1.5)), ValueError, r"`alignments` must be in \[0, 1\], got 1.5"),
    (dict(alignments=jnp.full(N, jnp.nan)), ValueError, r"`alignments` must be in \[0, 1\]"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD)
def test_bad_arguments(kwargs, error, message, without_runtime_typecheck):
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        em.PairedDataset(_data(), **kwargs)


def test_bad_arrays(without_runtime_typecheck):
    with without_runtime_typecheck():
        with pytest.raises(ValueError, match="non-empty dict"):
            em.PairedDataset({})
        with pytest.raises(ValueError, match=r"`data\['image'\]` must have 4 dimensions"):
            em.PairedDataset({"image": jnp.zeros((3, 4, 4))})
        with pytest.raises(TypeError, match="must hold integer tokens"):
            em.PairedDataset({"text": jnp.zeros((3, 4))})
        with pytest.raises(ValueError, match="NaN or infinite"):
            em.PairedDataset({"audio": jnp.full((3, 4), jnp.inf)})
        with pytest.raises(ValueError, match="leading sample axis"):
            em.PairedDataset({"audio": jnp.float32(1.0)})

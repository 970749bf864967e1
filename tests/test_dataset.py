import jax
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em

from .helpers import tree_allclose, tree_equal


SMALL = em.SyntheticConfig(
    image_shape=(8, 6, 2), vocab_size=40, seq_length=12, sample_rate=4000, duration=0.025
)


@pytest.fixture(scope="module")
def dataset():
    return em.SyntheticDataset(SMALL, 37, key=jr.key(7))


def test_len_and_item_structure(dataset):
    assert len(dataset) == 37
    item = dataset[0]
    assert list(item) == ["image", "text", "audio", "alignment_score", "latent"]
    assert item["image"].shape == (8, 6, 2) and item["text"].shape == (12,)


def test_negative_indices_and_numpy_ints(dataset):
    assert tree_equal(dataset[-1], dataset[36])
    assert tree_equal(dataset[np.int64(5)], dataset[5])


@pytest.mark.parametrize("index", [37, -38, 1000])
def test_out_of_range_raises_index_error(dataset, index):
    with pytest.raises(IndexError, match=f"index {index} is out of range for a dataset of 37"):
        dataset[index]


@pytest.mark.parametrize("index", [1.5, "a", True, None])
def test_bad_index_types(dataset, index):
    with pytest.raises(TypeError, match="dataset indices must be"):
        dataset[index]


@pytest.mark.slow
def test_slices_and_index_arrays(dataset):
    whole = dataset[:]
    assert whole["image"].shape[0] == 37
    np.testing.assert_array_equal(
        dataset[[3, 1, 3]]["latent"], whole["latent"][np.array([3, 1, 3])]
    )
    np.testing.assert_array_equal(
        dataset[np.array([-1, 0])]["text"], whole["text"][np.array([36, 0])]
    )
    assert dataset[5:5]["image"].shape == (0, 8, 6, 2)
    with pytest.raises(IndexError):
        dataset[[0, 37]]


def test_indexing_under_jit(dataset):
    @jax.jit
    def get(ds, i):
        return ds[i]["latent"]

    # Two compilations of the same item may round an element differently (1 ulp seen):
    # another item would differ by O(1).
    np.testing.assert_allclose(get(dataset, 4), dataset[4]["latent"], rtol=1e-6)
    np.testing.assert_allclose(get(dataset, -1), dataset[36]["latent"], rtol=1e-6)


def test_iteration_matches_indexing(dataset):
    items = list(dataset)
    assert len(items) == 37
    for i in (0, 17, 36):
        assert tree_allclose(items[i], dataset[i], atol=1e-6)


def test_epoch_shuffled_covers_everything_once(dataset, getkey):
    seen = []
    batches = dataset.batches(8, key=getkey())
    assert len(batches) == 5
    sizes = []
    for batch in batches:
        sizes.append(batch["latent"].shape[0])
        seen.extend(np.asarray(batch["latent"][:, 0]).tolist())
    assert sizes == [8, 8, 8, 8, 5]
    np.testing.assert_allclose(sorted(seen), sorted(np.asarray(dataset[:]["latent"][:, 0])))


def test_epoch_drop_last_and_order(dataset, getkey):
    batches = dataset.batches(8, shuffle=False, drop_last=True)
    assert len(batches) == 4
    first = next(iter(batches))
    assert tree_allclose(first, dataset[0:8], atol=1e-6)
    key = getkey()
    a = [b["latent"] for b in dataset.batches(8, key=key)]
    b = [b["latent"] for b in dataset.batches(8, key=key)]
    c = [b["latent"] for b in dataset.batches(8, key=getkey())]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_epoch_needs_a_key_to_shuffle(dataset):
    with pytest.raises(ValueError, match="`key` is required when `shuffle=True`"):
        dataset.batches(8)
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        dataset.batches(0, shuffle=False)


def test_random_batch(dataset, getkey, without_runtime_typecheck):
    key = getkey()
    batch = dataset.random_batch(10, key=key)
    assert batch["image"].shape == (10, 8, 6, 2)
    assert tree_equal(batch, dataset.random_batch(10, key=key))
    assert not np.array_equal(batch["latent"], dataset.random_batch(10, key=getkey())["latent"])
    latents = np.asarray(batch["latent"][:, 0])
    assert len(np.unique(latents)) == 10
    with pytest.raises(ValueError, match="`batch_size` must be at most the dataset size 37"):
        dataset.random_batch(38, key=key)
    with without_runtime_typecheck(), pytest.raises(TypeError, match="`key` must be a JAX PRNG"):
        dataset.random_batch(3, key=0)


def test_materialise_matches_lazy(dataset):
    materialised = dataset.materialise(batch_size=16)
    assert isinstance(materialised, em.ArrayDataset)
    assert len(materialised) == 37
    assert tree_allclose(materialised[:], dataset[:], atol=1e-6)
    assert list(materialised[3]) == list(dataset[3])


def test_constructor_validation(without_runtime_typecheck):
    with without_runtime_typecheck(), pytest.raises(TypeError, match="`config` must be a Synth"):
        em.SyntheticDataset({"alignment": 0.3}, 3, key=jr.key(0))
    with pytest.raises(ValueError, match="`num_samples` must be a positive integer, got 0"):
        em.SyntheticDataset(SMALL, 0, key=jr.key(0))
    with pytest.raises(ValueError, match="`num_samples` must be at most"):
        em.SyntheticDataset(SMALL, 2**31, key=jr.key(0))
    with without_runtime_typecheck(), pytest.raises(TypeError, match="`key` must be a JAX PRNG"):
        em.SyntheticDataset(SMALL, 3, key=0)
    with without_runtime_typecheck(), pytest.raises(ValueError, match="single PRNG key"):
        em.SyntheticDataset(SMALL, 3, key=jr.split(jr.key(0)))


def test_huge_lazy_dataset_makes_items_on_demand():
    dataset = em.SyntheticDataset(SMALL, 2**31 - 1, key=jr.key(0))
    item = dataset[-1]
    assert item["image"].shape == (8, 6, 2)


def test_datasets_of_one_shape_share_compiled_code(count_compiles):
    config = SMALL.replace(alignment=0.55)  # a shape no other test compiles with
    config = config.replace(seq_length=13)
    first = em.SyntheticDataset(config, 100, key=jr.key(0))
    jax.block_until_ready(first[0:16])
    with count_compiles() as compiled:
        second = em.SyntheticDataset(config.replace(alignment=0.9), 1000, key=jr.key(1))
        jax.block_until_ready(second[100:116])
        jax.block_until_ready(second.random_batch(16, key=jr.key(2)))
        jax.block_until_ready(first[16:32])
    assert [name for name in compiled if "render_batch" in name] == []
    with count_compiles() as compiled:
        jax.block_until_ready(first[0:17])  # a new batch size compiles once
    assert any("render_batch" in name for name in compiled)

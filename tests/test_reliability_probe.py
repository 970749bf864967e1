"""A fresh probe after issue 25 (see docs/reliability.md, "Probe"): what still broke, each
case failed before its fix. Small inputs only: the whole file runs in seconds."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal.nn import SharedLatentModel
from eqx_multimodal.training import embed

from .helpers import run_cli
from .test_reliability import one_line


CONFIG = em.SyntheticConfig(
    image_shape=(8, 8, 1), vocab_size=20, seq_length=6, sample_rate=4000, duration=0.05
)


# --- sizes that exhausted memory: a one-line error first ----------------------------------


@pytest.mark.parametrize(
    "changes,message",
    [
        # 100000 asked for tens of GB and was killed by the OOM killer.
        (dict(image_size=600), "`image_size` must be at most 512, got 600"),
        # 10**9 Hz: MemoryError resampling the speech ("internal error, a bug").
        (dict(sample_rate=400_000), "`sample_rate` must be at most 192,000, got 400,000"),
    ],
)
def test_spoken_digits_sizes_are_bounded(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        em.data.build_spoken_digits(tmp_path / "d", num_samples=1, **changes)
    assert not (tmp_path / "d").exists()


def test_preview_dpi_is_bounded(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "p.png"
    # --dpi 100000 was std::bad_alloc, reported as a bug.
    argv = ["preview", "--dpi", "100000", "--out", str(out), "--image-shape", "8,8,1"]
    assert run_cli([*argv, "--quiet"]) == 2
    assert "`--dpi` must be at most 1,200, got 100,000" in one_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["preview", "--alignment", "0.5,,1"],  # drew 0.5 and 1, the empty one dropped
        ["generate", "--modalities", "image,"],
        ["generate", "--image-shape", "8,,8,1"],  # read as 8,8,1
    ],
)
def test_an_empty_item_in_a_list_option_is_refused(tmp_path, capsys, argv):
    out = tmp_path / ("p.png" if argv[0] == "preview" else "g.npz")
    assert run_cli([*argv, "--out", str(out), "--quiet"]) == 2
    err = one_line(capsys)
    assert "an empty item between commas" in err and repr(argv[2]) in err
    assert not out.exists()


# --- the synthetic data's indices: no silent wrap-around ----------------------------------


@pytest.mark.parametrize(
    "indices,error,message",
    [
        # -1 and 2**40 were wrapped to 32 bits: item 4294967295, item 0.
        (jnp.asarray([-1]), ValueError, r"`indices` must be integers in \[0, 2\*\*32 - 1\]"),
        (np.asarray([2**40]), ValueError, r"`indices` must be integers in \[0, 2\*\*32 - 1\]"),
        (jnp.asarray([1.5]), TypeError, "`indices` must be a 1-D array of integers.*float32"),
        (4, TypeError, "`indices` must be a 1-D array of integers.*got 4"),  # vmap's error
        (jnp.ones((2, 2), int), TypeError, r"shape \(2, 2\)"),
    ],
)
def test_synthetic_batch_indices(indices, error, message, without_runtime_typecheck):
    key = jr.key(0)
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        em.synthetic_batch(indices, key=key, config=CONFIG)
    top = jnp.asarray([2**32 - 1], jnp.uint32)
    assert em.synthetic_batch(top, key=key, config=CONFIG)["image"].shape == (1, 8, 8, 1)


@pytest.mark.parametrize(
    "index,error,message",
    [
        (-1, ValueError, r"`index` must be an integer in \[0, 2\*\*32 - 1\], got -1"),  # Overflow
        (2**70, ValueError, r"`index` must be an integer in \[0, 2\*\*32 - 1\]"),
        (1.5, TypeError, "`index` must be an integer, got 1.5"),
    ],
)
def test_synthetic_item_index(index, error, message, without_runtime_typecheck):
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        em.synthetic_item(index, key=jr.key(0), config=CONFIG)


def test_synthetic_batch_key_and_config(without_runtime_typecheck):
    with without_runtime_typecheck():
        with pytest.raises(TypeError, match="`key` must be a JAX PRNG key.*got 0"):
            em.synthetic_batch(jnp.arange(2), key=0, config=CONFIG)
        with pytest.raises(TypeError, match="`config` must be a SyntheticConfig"):
            em.synthetic_batch(jnp.arange(2), key=jr.key(0), config={"alignment": 0.5})


# --- embed: what it is given -----------------------------------------------------------------


def _items(**changes):
    batch = em.synthetic_batch(jnp.arange(4), key=jr.key(1), config=CONFIG)
    items = {m: np.asarray(batch[m]) for m in CONFIG.modalities}
    return {**items, **changes}


@pytest.mark.parametrize(
    "items,chunk,error,message",
    [
        # NaN images or audio made NaN latents without a word.
        (
            _items(image=np.full((4, 8, 8, 1), np.nan, np.float32)),
            64,
            ValueError,
            r"`items\['image'\]`: 4 of 4 items hold NaN or infinite values",
        ),
        (
            _items(audio=np.full((4, 200), np.inf, np.float32)),
            64,
            ValueError,
            r"`items\['audio'\]`: 4 of 4 items hold NaN",
        ),
        # Ids outside the vocabulary read a clamped row of the table.
        (
            _items(text=np.full((4, 6), 999, np.int32)),
            64,
            ValueError,
            r"token ids 999..999.*vocabulary \[0, 20\)",
        ),
        (_items(text=np.full((4, 6), -1, np.int32)), 64, ValueError, "token ids -1..-1"),
        (_items(text=np.zeros((4, 6), np.float32)), 64, TypeError, "integer token ids"),
        # IndexError from NumPy before.
        (_items(audio=np.zeros((3, 200), np.float32)), 64, ValueError, "one leading axis"),
        (_items(image=np.zeros((8, 8, 1), np.float32)), 64, ValueError, "one leading axis"),
        ([1, 2], 64, TypeError, "`items` must be a dict"),  # returned {}
        (_items(), 0, ValueError, "`chunk` must be a positive integer, got 0"),  # range()
    ],
)
def test_embed_checks_its_items(items, chunk, error, message, without_runtime_typecheck):
    model = SharedLatentModel(CONFIG, towers="guide", latent_dim=8, decoders=False, key=jr.key(0))
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        embed(model, items, chunk=chunk)
    # No items is no latents (it was "need at least one array to concatenate").
    empty = embed(model, {m: v[:0] for m, v in _items().items()})
    assert {m: v.shape for m, v in empty.items()} == {m: (0, 8) for m in CONFIG.modalities}


# --- contradictory options -------------------------------------------------------------------


def test_val_data_is_not_the_training_folder(tmp_path, capsys):
    folder = em.save_paired_folder(
        tmp_path / "f", {"image": np.zeros((4, 4, 4, 1)), "text": np.ones((4, 3), int)}
    )
    out = tmp_path / "run"
    argv = ["train", "--data", str(folder), "--val-data", str(tmp_path / "f" / "."), "--quiet"]
    # Trained and "validated" on the same samples, exit 0.
    assert run_cli([*argv, "--out", str(out), "--steps", "1", "--no-report"]) == 2
    assert "--val-data is the --data folder" in one_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("name", ["early_fusion", "late_fusion"])
def test_fusion_of_a_list_says_how_to_call_it(name, without_runtime_typecheck):
    fusion = getattr(em.nn, name)
    arrays = [jnp.ones(3), jnp.zeros(3)]
    # `late_fusion([a, b])` was AttributeError: 'list' object has no attribute 'shape'.
    with without_runtime_typecheck(), pytest.raises(TypeError, match="as separate arguments"):
        fusion(arrays)
    assert fusion(*arrays).shape in {(3,), (6,)}


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(gallery=1), "`gallery` must be an integer >= 2, got 1"),
        (dict(modalities=["image"]), r"`modalities` must name two or more.*\['image'\]"),
    ],
)
def test_evaluate_refuses_what_retrieves_nothing(changes, message):
    from eqx_multimodal.training import evaluate

    model = SharedLatentModel(CONFIG, towers="guide", latent_dim=8, decoders=False, key=jr.key(0))
    # Both returned {"retrieval": {}} as if evaluated.
    with pytest.raises(ValueError, match=message):
        evaluate(model, CONFIG, **{"gallery": 8, "key": jr.key(1), **changes})


@pytest.mark.parametrize("name", ["AttentionFusion", "GatedFusion"])
def test_fusion_modules_name_a_bad_key(name, without_runtime_typecheck):
    # Was JAX's "unexpected PRNG key type <class 'NoneType'>", naming no argument.
    with without_runtime_typecheck(), pytest.raises(TypeError, match="`key` must be a JAX PRNG"):
        getattr(em.nn, name)(8, key=None)


def test_shared_latent_model_names_a_bad_key(without_runtime_typecheck):
    # Was JAX's "unexpected PRNG key type <class 'NoneType'>", naming no argument.
    with without_runtime_typecheck(), pytest.raises(TypeError, match="`key` must be a JAX PRNG"):
        em.nn.SharedLatentModel(CONFIG, latent_dim=8, d_model=8, key=None)

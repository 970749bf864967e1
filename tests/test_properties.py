"""The library's guarantees as properties, each checked on drawn examples (hypothesis
shrinks a failure to a readable counterexample). Shapes come from a few fixed sets so
that examples share compiled code."""

import tempfile

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given

import eqx_multimodal as em
from eqx_multimodal import nn, testing
from eqx_multimodal._validation import argument_names, seed_key
from eqx_multimodal.cli._args import config_from_args, FLAGS
from eqx_multimodal.cli._main import build_parser
from eqx_multimodal.losses import clip_loss, LossWeights
from eqx_multimodal.metrics import retrieval_metrics_from_scores, score_ranks
from eqx_multimodal.training import TrainConfig

from .helpers import run_cli, tree_equal


#: One configuration with every modality, small enough to compile in seconds.
CONFIG = em.SyntheticConfig(
    image_shape=(8, 8, 1), vocab_size=20, seq_length=6, sample_rate=4000, duration=0.025
)


# --- the data core -----------------------------------------------------------------------


@jax.jit
def _item_in_jit(key, index):
    # Made inside someone else's compiled code.
    return em.synthetic_item(index, key=key, config=CONFIG)


@given(
    seed=testing.seeds(),
    start=st.integers(0, 2**20),
    size=st.sampled_from([1, 2, 5, 8]),
    order=st.randoms(use_true_random=False),
)
@pytest.mark.slow
def test_an_item_is_the_same_alone_in_any_batch_and_order(seed, start, size, order):
    key = seed_key(seed)
    indices = list(range(start, start + size))
    order.shuffle(indices)
    batch = em.synthetic_batch(jnp.asarray(indices), key=key, config=CONFIG)
    eight = em.synthetic_batch(start + jnp.arange(8), key=key, config=CONFIG)
    for position, index in enumerate(indices):
        alone = em.synthetic_item(index, key=key, config=CONFIG)
        in_batch = {k: v[position] for k, v in batch.items()}
        assert tree_equal(alone, in_batch)  # bit for bit
        assert tree_equal(alone, _item_in_jit(key, index))
        if index - start < 8:
            assert tree_equal(alone, {k: v[index - start] for k, v in eight.items()})


def _array_dataset(n):
    return em.ArrayDataset(
        {"x": jnp.arange(n * 2, dtype=jnp.float32).reshape(n, 2), "i": jnp.arange(n)}
    )


@pytest.mark.slow
@given(data=st.data(), n=st.integers(1, 24))
def test_indexing_a_dataset_is_indexing_its_arrays(data, n):
    dataset = _array_dataset(n)
    arrays = {k: np.asarray(v) for k, v in dataset.arrays.items()}
    index = data.draw(st.one_of(st.slices(n), st.integers(-n, n - 1)), label="index")
    got = dataset[index]
    for name, array in arrays.items():
        np.testing.assert_array_equal(got[name], array[index])
    rows = data.draw(st.lists(st.integers(-n, n - 1), max_size=6), label="rows")
    picked = dataset[np.asarray(rows, dtype=np.int64)]
    np.testing.assert_array_equal(picked["i"], arrays["i"][np.asarray(rows, dtype=np.int64)])


@given(n=st.integers(1, 30), size=st.integers(1, 12), drop_last=st.booleans(), seed=testing.seeds())
def test_an_epoch_is_a_permutation(n, size, drop_last, seed):
    batches = _array_dataset(n).batches(size, key=seed_key(seed), drop_last=drop_last)
    seen = np.concatenate([np.asarray(b["i"]) for b in batches] or [np.zeros(0, int)])
    count = min(size, n)
    assert len(batches) == (n // count if drop_last else -(-n // count))
    assert (
        len(seen)
        == len(set(seen.tolist()))
        == len(batches) * count - (0 if drop_last else (-n) % count)
    )
    assert set(seen.tolist()) <= set(range(n))


# --- configurations ----------------------------------------------------------------------


@given(config=testing.synthetic_configs())
def test_synthetic_configs_round_trip_through_their_dicts(config):
    assert em.SyntheticConfig(**config.to_dict()) == config


@given(
    # A training run aligns two modalities or more (one is refused: nothing to align).
    data=testing.synthetic_configs(
        modalities=[
            ("image", "text"),
            ("image", "audio"),
            ("text", "audio"),
            ("image", "text", "audio"),
        ]
    ),
    seed=testing.seeds(),
    steps=st.integers(1, 10**6),
    learning_rate=st.floats(1e-6, 1.0),
    objective=st.sampled_from(["clip", "siglip"]),
    cycle=st.floats(0.0, 1.0),
    towers=st.sampled_from([None, "guide", "generic"]),
)
def test_train_configs_round_trip_through_json(
    data, seed, steps, learning_rate, objective, cycle, towers
):
    config = TrainConfig(
        data=data,
        towers=towers,
        seed=seed,
        steps=steps,
        learning_rate=learning_rate,
        loss=LossWeights(objective=objective, cycle=cycle),
    )
    assert TrainConfig.from_json(config.to_json()) == config
    spec_run = config.replace(data=data.spec)
    assert TrainConfig.from_json(spec_run.to_json()) == spec_run


def test_the_default_train_config_round_trips():
    # A default config can be resumed through the API: its JSON reads back equal.
    assert TrainConfig.from_json(TrainConfig().to_json()) == TrainConfig()


@given(case=testing.invalid_configs())
def test_every_invalid_config_is_refused_by_name(case, without_runtime_typecheck):
    arguments, error, message = case
    with without_runtime_typecheck(), pytest.raises(error) as raised:
        em.SyntheticConfig(**arguments)
    assert message in str(raised.value)
    (name,) = arguments
    assert f"`{name}`" in str(raised.value)


# --- files -----------------------------------------------------------------------------


@given(dataset=testing.paired_datasets(incomplete=False))
def test_saving_and_loading_a_folder_gives_the_arrays_back(dataset):
    data = {k: np.asarray(v) for k, v in dataset.data.items()}
    labels = None
    if dataset.labels is not None:
        labels = [dataset.label_names[i] if i >= 0 else "none" for i in np.asarray(dataset.labels)]
    with tempfile.TemporaryDirectory() as folder:
        path = em.save_paired_folder(
            f"{folder}/pairs",
            data,
            sample_rate=dataset.sample_rate,
            alignments=dataset.alignments,
            labels=labels,
        )
        loaded = em.load_paired_folder(path)
    assert loaded.modalities == dataset.modalities
    if "text" in data:
        np.testing.assert_array_equal(loaded.data["text"], data["text"])
    # Half a quantisation step, and the float32 rounding of the value read back.
    for name, step in (("image", 1 / 255), ("audio", 1 / 32767)):
        if name in data:
            error = np.abs(np.asarray(loaded.data[name], np.float64) - data[name])
            assert error.max() <= 0.5 * step + 2**-24, (name, error.max() / step)
    if "latent" in data:
        np.testing.assert_array_equal(loaded.data["latent"], data["latent"])
    np.testing.assert_array_equal(loaded.alignments, dataset.alignments)
    if labels is not None:
        names = loaded.label_names
        assert [names[i] for i in np.asarray(loaded.labels)] == labels


@given(text=testing.texts(), length=st.sampled_from([3, 8, 64]))
def test_the_byte_tokenizer_keeps_what_fits(text, length):
    tokenizer = em.ByteTokenizer(length)
    ids, truncated = tokenizer.encode(text)
    assert ids.shape == (length,) and ids.dtype == np.int32
    assert ids.min() >= 0 and ids.max() < tokenizer.vocab_size
    body = text.encode("utf-8")
    assert truncated == (len(body) > length - 2)
    if not truncated:
        assert tokenizer.decode(ids) == text


# --- metrics and losses ------------------------------------------------------------------


def _brute_ranks(scores):
    n = scores.shape[0]
    return np.array(
        [
            sum(1 for j in range(scores.shape[1]) if not scores[i, j] < scores[i, i]) - 1
            for i in range(n)
        ]
    )


scores_matrices = st.integers(2, 7).flatmap(
    lambda n: hnp.arrays(
        np.float64,
        (n, n),
        elements=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(-10, 10)),  # ties included
    )
)


@given(scores=scores_matrices, data=st.data())
def test_ranks_are_a_brute_force_count_and_follow_a_permutation(scores, data):
    ranks = score_ranks(scores)
    np.testing.assert_array_equal(ranks, _brute_ranks(scores))
    n = scores.shape[0]
    order = np.asarray(data.draw(st.permutations(range(n))))
    np.testing.assert_array_equal(score_ranks(scores[order][:, order]), ranks[order])
    recalls = retrieval_metrics_from_scores(scores, ks=tuple(range(1, n + 1)))
    values = [recalls[f"recall@{k}"] for k in range(1, n + 1)]
    assert values == sorted(values) and values[-1] == 1.0


unit_rows = hnp.arrays(np.float32, (6, 4), elements=st.floats(-1, 1, width=32)).map(
    lambda x: nn.l2_normalize(jnp.asarray(x))
)


@pytest.mark.slow
@given(a=unit_rows, b=unit_rows, mask=hnp.arrays(bool, (6,)), log_t=st.floats(0.0, 4.0))
def test_the_contrastive_loss_is_symmetric_and_a_mask_drops_rows(a, b, mask, log_t):
    t = jnp.float32(log_t)
    np.testing.assert_allclose(clip_loss(a, b, t), clip_loss(b, a, t), rtol=1e-5, atol=1e-6)
    mask = jnp.asarray(mask)
    kept = np.flatnonzero(np.asarray(mask))
    masked = clip_loss(a, b, t, mask)
    if len(kept) >= 2:
        np.testing.assert_allclose(masked, clip_loss(a[kept], b[kept], t), rtol=1e-5, atol=1e-6)
    else:
        assert float(masked) == 0.0


@pytest.mark.slow  # 3-5 s: the inner loop stays under 2 minutes
@given(
    n=st.sampled_from([64, 100, 257]),
    n_fft=st.sampled_from([16, 32, 64]),
    hop=st.sampled_from([4, 8, 16]),
    seed=testing.seeds(),
)
def test_the_stft_is_numpys(n, n_fft, hop, seed):
    wave = np.random.default_rng(seed).normal(size=n).astype(np.float32)
    padded = np.pad(wave.astype(np.float64), (n_fft // 2, n_fft // 2))
    frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    framed = np.stack([padded[i * hop : i * hop + n_fft] for i in range(frames)])
    expected = np.abs(np.fft.rfft(framed * window, axis=-1))
    got = nn.stft_magnitude(jnp.asarray(wave), n_fft=n_fft, hop_length=hop)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


# --- fusion ------------------------------------------------------------------------------

FUSIONS = {
    "attention": nn.AttentionFusion(16, 4, 3, key=jr.key(0)),
    "gated": nn.GatedFusion(16, 3, key=jr.key(0)),
}


@pytest.mark.parametrize("name", sorted(FUSIONS))
@given(embeddings=hnp.arrays(np.float32, (3, 16), elements=st.floats(-5, 5, width=32)))
def test_fusion_ignores_what_is_missing(name, embeddings):
    testing.check_fusion(FUSIONS[name], jnp.asarray(embeddings))


# --- the command line ---------------------------------------------------------------------


@given(config=testing.synthetic_configs())
def test_the_data_options_read_back_what_they_write(config):
    argv = [
        "generate",
        "--alignment", repr(float(config.alignment)),
        "--modalities", ",".join(config.modalities),
        "--image-shape", ",".join(map(str, config.image_shape)),
        "--vocab-size", str(config.vocab_size),
        "--seq-length", str(config.seq_length),
        "--sample-rate", str(config.sample_rate),
        "--duration", repr(config.duration),
    ]  # fmt: skip
    args = build_parser().parse_args(argv)
    with argument_names(FLAGS):
        # The command line has no option for the latent's size: always the default.
        assert config_from_args(args) == config.replace(latent_dim=32)


@given(
    case=st.one_of(
        st.tuples(st.just("--steps"), st.integers(max_value=0)),
        st.tuples(st.just("--batch-size"), st.integers(max_value=1)),
        st.tuples(st.just("--seed"), st.one_of(st.integers(max_value=-1), st.integers(2**64))),
        st.tuples(st.just("--learning-rate"), st.floats(max_value=0.0)),
        st.tuples(st.just("--alignment"), st.floats(1.0, exclude_min=True)),
        st.tuples(st.just("--vocab-size"), st.integers(2**31)),
    )
)
def test_out_of_range_options_are_refused_by_flag(case, capsys):
    flag, value = case
    text = repr(value) if isinstance(value, float) else str(value)
    assert run_cli(["train", f"{flag}={text}", "--no-report", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"`{flag}`" in err and len(err.splitlines()) == 1


def test_every_option_flag_maps_to_an_argument():
    # The flags errors name are the flags the parsers take.
    parser = build_parser()
    actions = {
        option
        for sub in parser._subparsers._group_actions[0].choices.values()
        for action in sub._actions
        for option in action.option_strings
    }
    assert set(FLAGS.values()) <= actions

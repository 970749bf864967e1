"""The guide's data code, verbatim except for the import lines."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqx_multimodal import nnx as shim

from .helpers import tree_equal


def _rngs_classes():
    classes = [pytest.param(shim.Rngs, id="shim")]
    try:
        from flax import nnx

        classes.append(pytest.param(nnx.Rngs, id="flax"))
    except ImportError:
        classes.append(pytest.param(None, id="flax", marks=pytest.mark.skip("flax missing")))
    return classes


@pytest.fixture(params=_rngs_classes())
def Rngs(request):
    return request.param


def test_guide_aligned_dataset(Rngs, capsys):
    from eqx_multimodal.nnx import create_synthetic_multi_modal_dataset

    # Initialize RNG
    rngs = Rngs(0)

    # Create aligned multi-modal dataset
    dataset = create_synthetic_multi_modal_dataset(
        modalities=["image", "text", "audio"],
        num_samples=1000,
        alignment_strength=0.8,  # 0.0 = random, 1.0 = perfectly aligned
        image_shape=(32, 32, 3),
        text_vocab_size=1000,
        text_sequence_length=50,
        audio_sample_rate=16000,
        audio_duration=1.0,
        rngs=rngs,
    )

    # Access multi-modal sample
    sample = dataset[0]
    print(sample.keys())
    # dict_keys(['image', 'text', 'audio', 'alignment_score', 'latent'])

    print(f"Image shape: {sample['image'].shape}")  # (32, 32, 3)
    print(f"Text shape: {sample['text'].shape}")  # (50,)
    print(f"Audio shape: {sample['audio'].shape}")  # (16000,)
    print(f"Alignment: {sample['alignment_score']}")  # 0.8
    print(f"Shared latent: {sample['latent'].shape}")  # (32,)

    out = capsys.readouterr().out.splitlines()
    assert out == [
        "dict_keys(['image', 'text', 'audio', 'alignment_score', 'latent'])",
        "Image shape: (32, 32, 3)",
        "Text shape: (50,)",
        "Audio shape: (16000,)",
        "Alignment: 0.800000011920929" if out[4] != "Alignment: 0.8" else "Alignment: 0.8",
        "Shared latent: (32,)",
    ]
    assert float(sample["alignment_score"]) == pytest.approx(0.8)

    # Get batch from aligned dataset
    batch = dataset.get_batch(batch_size=32)

    print(batch["image"].shape)  # (32, 32, 32, 3)
    print(batch["text"].shape)  # (32, 50)
    print(batch["audio"].shape)  # (32, 16000)
    print(batch["latent"].shape)  # (32, 32)
    assert capsys.readouterr().out.split() == [
        "(32,",
        "32,",
        "32,",
        "3)",
        "(32,",
        "50)",
        "(32,",
        "16000)",
        "(32,",
        "32)",
    ]


def test_guide_alignment_strengths(Rngs):
    from eqx_multimodal.nnx import create_synthetic_multi_modal_dataset

    rngs = Rngs(0)
    datasets = []
    for strength in (0.3, 0.6, 0.9, 1.0):
        datasets.append(
            create_synthetic_multi_modal_dataset(
                modalities=["image", "text"],
                num_samples=1000,
                alignment_strength=strength,
                rngs=rngs,
            )
        )
    scores = [float(d[0]["alignment_score"]) for d in datasets]
    assert scores == pytest.approx([0.3, 0.6, 0.9, 1.0])
    assert "audio" not in datasets[0][0]


def test_two_datasets_from_one_rngs_are_independent(Rngs):
    rngs = Rngs(0)
    kwargs = dict(
        modalities=["image", "text"],
        num_samples=50,
        image_shape=(8, 8, 1),
        text_vocab_size=10,
        text_sequence_length=4,
        rngs=rngs,
    )
    train = shim.create_synthetic_multi_modal_dataset(**kwargs)
    val = shim.create_synthetic_multi_modal_dataset(**kwargs)
    train_latents = np.asarray(train[:]["latent"])
    val_latents = np.asarray(val[:]["latent"])
    shared = {tuple(row) for row in train_latents} & {tuple(row) for row in val_latents}
    assert not shared


def test_same_seed_same_dataset(Rngs):
    kwargs = dict(modalities=["text"], num_samples=10, text_vocab_size=10, text_sequence_length=4)
    a = shim.create_synthetic_multi_modal_dataset(**kwargs, rngs=Rngs(3))
    b = shim.create_synthetic_multi_modal_dataset(**kwargs, rngs=Rngs(3))
    assert tree_equal(a[:], b[:])


@pytest.mark.slow
def test_get_batch_is_fresh_each_call(Rngs):
    dataset = shim.create_synthetic_multi_modal_dataset(
        modalities=["text"], num_samples=1000, text_vocab_size=10, rngs=Rngs(0)
    )
    one, two = dataset.get_batch(16), dataset.get_batch(16)
    assert one["text"].shape == (16, 50)
    assert not np.array_equal(one["latent"], two["latent"])
    # Batches are items of the dataset: the latent of a batch row is an item's latent.
    latents = {tuple(np.asarray(row).round(6)) for row in dataset[:]["latent"]}
    assert all(tuple(np.asarray(r).round(6)) in latents for r in one["latent"])


def test_guide_paired_dataset(capsys):
    from eqx_multimodal.nnx import MultiModalPairedDataset

    # Prepare paired data
    image_data = jnp.zeros((10, 8, 8, 3))  # (N, H, W, C)
    text_data = jnp.zeros((10, 12), dtype=jnp.int32)  # (N, max_length)
    audio_data = jnp.zeros((10, 100))  # (N, n_samples)

    # Define modality pairs
    pairs = [("image", "text"), ("image", "audio"), ("text", "audio")]

    # Optional alignment scores for each pair
    alignments = jnp.ones((len(image_data),))  # All perfectly aligned

    # Create paired dataset
    paired_dataset = MultiModalPairedDataset(
        pairs=pairs,
        data={"image": image_data, "text": text_data, "audio": audio_data},
        alignments=alignments,
    )

    # Access paired sample
    sample = paired_dataset[0]
    print(sample["image"].shape)  # (H, W, C)
    print(sample["text"].shape)  # (max_length,)
    print(sample["audio"].shape)  # (n_samples,)
    print(sample["alignment_scores"])  # 1.0
    print(sample["pairs"])  # [('image', 'text'), ('image', 'audio'), ('text', 'audio')]

    # Iterate over paired dataset
    for i, sample in enumerate(paired_dataset):
        if i >= 3:
            break
        print(f"Sample {i}:")
        for modality in ["image", "text", "audio"]:
            print(f"  {modality}: {sample[modality].shape}")

    out = capsys.readouterr().out.splitlines()
    assert out[:5] == [
        "(8, 8, 3)",
        "(12,)",
        "(100,)",
        "1.0",
        "[('image', 'text'), ('image', 'audio'), ('text', 'audio')]",
    ]
    assert out[5:9] == ["Sample 0:", "  image: (8, 8, 3)", "  text: (12,)", "  audio: (100,)"]
    assert len(out) == 5 + 3 * 4


def test_guide_early_fusion_usage_on_dataset_sample():
    dataset = shim.create_synthetic_multi_modal_dataset(
        modalities=["image", "text", "audio"], num_samples=4, rngs=shim.Rngs(0)
    )
    sample = dataset[0]
    flat = jnp.concatenate(
        [
            sample["image"].reshape(-1),
            sample["text"].reshape(-1).astype(jnp.float32),
            sample["audio"].reshape(-1),
        ]
    )
    assert flat.shape == (32 * 32 * 3 + 50 + 16000,)


def test_generators_without_key_reproduce_the_guide():
    latent = jax.random.normal(jax.random.key(5), (32,))
    # The guide's own code for the image and audio, with its fixed key.
    h, w, c = 32, 32, 3
    x = jnp.linspace(-1, 1, w)
    y = jnp.linspace(-1, 1, h)
    xx, yy = jnp.meshgrid(x, y)
    pattern = jnp.zeros((h, w))
    for i in range(min(len(latent), 8)):
        freq = 2 + i
        phase = latent[i] * jnp.pi
        amplitude = jnp.abs(latent[i])
        pattern += amplitude * jnp.sin(freq * xx + phase) * jnp.cos(freq * yy + phase)
    pattern = (pattern - pattern.min()) / (pattern.max() - pattern.min() + 1e-8)
    pattern = jnp.stack([pattern] * c, axis=-1)
    noise = jax.random.normal(jax.random.key(0), (h, w, c))
    image = 0.8 * pattern + (1 - 0.8) * noise
    image = (image - image.min()) / (image.max() - image.min() + 1e-8)
    np.testing.assert_allclose(shim.generate_image_from_latent(latent, 0.8), image, atol=2e-5)

    num_samples = 16000
    t = jnp.linspace(0, 1.0, num_samples)
    waveform = jnp.zeros(num_samples)
    for i in range(min(len(latent), 10)):
        freq = 100 + 1900 * (jnp.abs(latent[i]) % 1)
        phase = latent[i] * 2 * jnp.pi
        amplitude = jnp.abs(latent[i]) * 0.1
        waveform += amplitude * jnp.sin(2 * jnp.pi * freq * t + phase)
    noise = jax.random.normal(jax.random.key(0), (num_samples,)) * 0.1
    waveform = 0.8 * waveform + (1 - 0.8) * noise
    waveform = waveform / (jnp.max(jnp.abs(waveform)) + 1e-8)
    np.testing.assert_allclose(shim.generate_audio_from_latent(latent, 0.8), waveform, atol=3e-3)

    # Fixed key: the same output every call; with a key, new noise.
    text = shim.generate_text_from_latent(latent, 0.8)
    assert tree_equal(text, shim.generate_text_from_latent(latent, 0.8))
    assert text.shape == (50,) and int(text.max()) < 1000
    keyed = shim.generate_image_from_latent(latent, 0.8, key=jax.random.key(1))
    assert not np.array_equal(keyed, image)


def test_generators_with_rngs(Rngs):
    latent = jax.random.normal(jax.random.key(5), (32,))
    rngs = Rngs(0)
    a = shim.generate_audio_from_latent(latent, 0.5, 8000, 0.5, rngs=rngs)
    b = shim.generate_audio_from_latent(latent, 0.5, 8000, 0.5, rngs=rngs)
    assert a.shape == (4000,) and not np.array_equal(a, b)
    sample = shim.generate_aligned_sample(latent, 0.8, rngs=rngs)
    assert list(sample) == ["image", "text", "audio", "latent", "alignment_score"]
    assert sample["image"].shape == (32, 32, 3) and sample["text"].shape == (50,)
    fixed = shim.generate_aligned_sample(latent, 0.8)
    assert tree_equal(fixed["image"], shim.generate_image_from_latent(latent, 0.8))


def test_generators_jit_and_vmap():
    latents = jax.random.normal(jax.random.key(0), (3, 32))
    keys = jax.random.split(jax.random.key(1), 3)
    f = jax.jit(jax.vmap(lambda z, k: shim.generate_image_from_latent(z, 0.7, (8, 8, 1), key=k)))
    images = f(latents, keys)
    assert images.shape == (3, 8, 8, 1)
    single = shim.generate_image_from_latent(latents[1], 0.7, (8, 8, 1), key=keys[1])
    np.testing.assert_allclose(images[1], single, atol=1e-6)
    g = jax.jit(lambda a: shim.generate_text_from_latent(latents[0], a, 20, 7))
    assert g(0.5).shape == (7,)


SHIM_ERRORS = [
    (dict(text_vocab_size=0), ValueError, "`text_vocab_size` must be a positive integer, got 0"),
    (dict(text_sequence_length=0), ValueError, "`text_sequence_length` must be a positive"),
    (dict(alignment_strength=1.5), ValueError, r"`alignment_strength` must be in \[0, 1\]"),
    (dict(audio_duration=-1.0), ValueError, "`audio_duration` must be > 0, got -1"),
    (dict(audio_sample_rate=0), ValueError, "`audio_sample_rate` must be a positive integer"),
    (
        dict(audio_sample_rate=10, audio_duration=0.01),
        ValueError,
        "`audio_sample_rate` \\* `audio_duration` must give at least one audio sample",
    ),
    (dict(image_shape=(32, 32)), ValueError, "`image_shape` must have 3 entries"),
    (dict(num_samples=0), ValueError, "`num_samples` must be a positive integer, got 0"),
    (dict(modalities=["smell"]), ValueError, "`modalities` contains unknown modality 'smell'"),
]


@pytest.mark.parametrize("kwargs,error,message", SHIM_ERRORS)
def test_shim_errors_use_the_guides_argument_names(
    kwargs, error, message, without_runtime_typecheck
):
    arguments = dict(modalities=["image", "text", "audio"], rngs=shim.Rngs(0))
    arguments.update(kwargs)
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        shim.create_synthetic_multi_modal_dataset(**arguments)


def test_shim_rejects_bad_rngs(without_runtime_typecheck):
    with without_runtime_typecheck(), pytest.raises(TypeError, match="`rngs` must be an Rngs"):
        shim.create_synthetic_multi_modal_dataset(modalities=["text"], rngs=0)
    with pytest.raises(TypeError, match="either `key` or `rngs`"):
        shim.generate_image_from_latent(jnp.zeros(4), 0.5, key=jax.random.key(0), rngs=shim.Rngs(0))
    with pytest.raises(ValueError, match=r"`alignment_strength` must be in \[0, 1\], got 2"):
        shim.generate_text_from_latent(jnp.zeros(4), 2.0)
    with pytest.raises(ValueError, match="`latent` must be a non-empty vector"):
        shim.generate_image_from_latent(jnp.zeros((2, 2)), 0.5)


def test_rngs_streams():
    rngs = shim.Rngs(0, sample=1)
    assert "sample" in rngs and "params" not in rngs
    a, b = rngs.sample(), rngs.sample()
    assert not np.array_equal(jax.random.key_data(a), jax.random.key_data(b))
    assert tree_equal(
        jax.random.key_data(shim.Rngs(0).params()), jax.random.key_data(shim.Rngs(0)())
    )
    assert tree_equal(
        jax.random.key_data(shim.Rngs(jax.random.key(0))()), jax.random.key_data(shim.Rngs(0)())
    )
    with pytest.raises(TypeError, match="Rngs needs a seed"):
        shim.Rngs()


def test_a_second_dataset_of_the_same_shapes_compiles_nothing(count_compiles):
    kwargs = dict(
        modalities=["image", "audio"],
        num_samples=100,
        image_shape=(6, 6, 1),
        audio_sample_rate=4000,
        audio_duration=0.05,
    )
    rngs = shim.Rngs(0)
    train = shim.create_synthetic_multi_modal_dataset(**kwargs, rngs=rngs)
    jax.block_until_ready(train.get_batch(16))
    with count_compiles() as compiled:
        val = shim.create_synthetic_multi_modal_dataset(**{**kwargs, "num_samples": 50}, rngs=rngs)
        jax.block_until_ready(val.get_batch(16))
        jax.block_until_ready(train.get_batch(16))
    assert [name for name in compiled if "synthetic" in name] == []

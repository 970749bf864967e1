import jax
import jax.numpy as jnp
import pytest

import eqx_multimodal as em


def test_defaults_are_the_guides():
    config = em.SyntheticConfig()
    assert config.modalities == ("image", "text", "audio")
    assert float(config.alignment) == pytest.approx(0.8)
    assert config.image_shape == (32, 32, 3)
    assert (config.vocab_size, config.seq_length) == (1000, 50)
    assert config.num_audio_samples == 16000
    assert config.latent_dim == 32


def test_modalities_are_canonically_ordered():
    config = em.SyntheticConfig(modalities=["audio", "image"])
    assert config.modalities == ("image", "audio")


def test_num_audio_samples_has_no_float_artefacts():
    assert em.SyntheticConfig(sample_rate=8000, duration=0.29).num_audio_samples == 2320
    assert em.SyntheticConfig(["image"], sample_rate=10, duration=0.15).num_audio_samples == 1


def test_frozen():
    config = em.SyntheticConfig()
    with pytest.raises(Exception):
        config.vocab_size = 3  # type: ignore[misc]


def test_replace_and_to_dict():
    config = em.SyntheticConfig().replace(alignment=0.3, vocab_size=10)
    assert config.vocab_size == 10
    assert config.to_dict()["alignment"] == pytest.approx(0.3)
    with pytest.raises(TypeError, match="no field"):
        config.replace(colour=1)
    with pytest.raises(ValueError, match="alignment"):
        config.replace(alignment=2.0)


BAD = [
    (dict(modalities=[]), ValueError, "`modalities` must name at least one"),
    (dict(modalities="image"), TypeError, "`modalities` must be a list"),
    (dict(modalities=["image", "image"]), ValueError, "`modalities` contains duplicates"),
    (dict(modalities=["video"]), ValueError, "unknown modality 'video'"),
    (dict(modalities=[1]), TypeError, "`modalities` must contain strings"),
    (dict(alignment=1.3), ValueError, r"`alignment` must be in \[0, 1\], got 1.3"),
    (dict(alignment=-0.1), ValueError, r"`alignment` must be in \[0, 1\], got -0.1"),
    (dict(alignment=float("nan")), ValueError, "`alignment` must be finite, got nan"),
    (dict(alignment="0.5"), TypeError, "`alignment` must be a real number, got '0.5'"),
    (dict(alignment=True), TypeError, "`alignment` must be a real number"),
    (dict(alignment=jnp.ones(2)), TypeError, "`alignment` must be a real scalar"),
    (dict(image_shape=(32, 32)), ValueError, "`image_shape` must have 3 entries, got 2"),
    (dict(image_shape=(32, 0, 3)), ValueError, "`image_shape` must contain positive integers"),
    (dict(image_shape=(32, 32.0, 3)), TypeError, "`image_shape` must contain integers"),
    (dict(image_shape="32x32x3"), TypeError, "`image_shape` must be a tuple"),
    (dict(vocab_size=0), ValueError, "`vocab_size` must be a positive integer, got 0"),
    (dict(vocab_size=10.0), TypeError, "`vocab_size` must be an integer, got 10.0"),
    (dict(seq_length=-1), ValueError, "`seq_length` must be a positive integer, got -1"),
    (dict(sample_rate=0), ValueError, "`sample_rate` must be a positive integer, got 0"),
    (dict(duration=0.0), ValueError, "`duration` must be > 0, got 0"),
    (dict(duration=float("inf")), ValueError, "`duration` must be finite"),
    (dict(sample_rate=10, duration=0.05), ValueError, "at least one audio sample"),
    (dict(latent_dim=0), ValueError, "`latent_dim` must be a positive integer, got 0"),
    (dict(latent_dim=True), TypeError, "`latent_dim` must be an integer, got True"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD)
def test_bad_values_name_the_argument_and_value(kwargs, error, message, without_runtime_typecheck):
    (argument,) = kwargs.keys() - {"sample_rate"} or {"sample_rate"}
    # With the runtime type checks of the test suite on, a wrong type may be caught by
    # them first: still a TypeError naming the argument.
    with pytest.raises(error, match=argument):
        em.SyntheticConfig(**kwargs)
    # The library's own message, as users see it.
    with without_runtime_typecheck(), pytest.raises(error, match=message):
        em.SyntheticConfig(**kwargs)


def test_numpy_and_jax_scalars_are_accepted(without_runtime_typecheck):
    import numpy as np

    # Outside the annotations (`int`), but a convenience users rely on.
    with without_runtime_typecheck():
        config = em.SyntheticConfig(alignment=np.float32(0.5), vocab_size=np.int64(7))
    assert config.vocab_size == 7 and isinstance(config.vocab_size, int)
    assert float(config.alignment) == 0.5


def test_traced_alignment_is_checked_at_run_time():
    def make(alignment):
        return em.SyntheticConfig(alignment=alignment).alignment

    assert float(jax.jit(make)(0.5)) == 0.5
    with pytest.raises(Exception, match="alignment"):
        jax.block_until_ready(jax.jit(make)(1.5))


def test_alignment_is_a_float32_leaf():
    config = em.SyntheticConfig(alignment=1)
    leaves = jax.tree.leaves(config)
    assert len(leaves) == 1 and leaves[0].dtype == jnp.float32 and not leaves[0].weak_type

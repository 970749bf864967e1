"""The front ends of the default towers: the grating fit and the spectral peaks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import eqx_multimodal as em
from eqx_multimodal import nn
from eqx_multimodal.guide import audio_from_latent, image_from_latent, image_pattern
from eqx_multimodal.guide.towers._signal import _grating_products


def _circular(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def _explained(image, amplitude, phase):
    """The fraction of the centred image's energy the fitted gratings explain."""
    basis, _ = _grating_products(32, 32, nn.GUIDE_FREQUENCIES)
    half = np.asarray(phase) / 2
    c, s = np.cos(half), np.sin(half)
    coef = np.stack([c * c, -c * s, s * c, -s * s], axis=-1)
    fit = np.einsum("nk,nkm,kmi->ni", np.asarray(amplitude), coef, basis)
    centred = np.asarray(image).reshape(len(fit), -1)
    centred = centred - centred.mean(axis=1, keepdims=True)
    return 1 - np.sum((centred - fit) ** 2, axis=1) / np.sum(centred**2, axis=1)


def test_fit_gratings_explains_noise_free_guide_images(getkey):
    latents = jr.normal(getkey(), (100, 32))
    patterns = jax.vmap(lambda z: image_pattern(z, 32, 32))(latents)
    explained = {}
    for sweeps in (1, 8):
        fit = jax.jit(jax.vmap(lambda p, sweeps=sweeps: nn.fit_gratings(p, sweeps=sweeps)))
        explained[sweeps] = _explained(patterns, *fit(patterns))
    # Measured: median 0.998, least 0.945 after 8 sweeps; median 0.78 after one.
    assert np.median(explained[8]) > 0.99 and np.min(explained[8]) > 0.9
    assert np.median(explained[1]) < np.median(explained[8])


def test_fit_gratings_one_grating_exactly():
    y = x = jnp.linspace(-1.0, 1.0, 32)
    for phi in (0.3, 1.0, 2.9):
        image = 0.5 + 2.0 * jnp.cos(5.0 * y + phi)[:, None] * jnp.sin(5.0 * x + phi)[None, :]
        amplitude, phase = nn.fit_gratings(image, (5.0,), num_phases=360)
        assert abs(float(amplitude[0]) - 2.0) < 0.01
        assert _circular(phase[0], 2 * phi) < 2 * np.pi / 360


def test_fit_gratings_beats_chance_on_noisy_images(getkey):
    # Alignment 0.8: measured median error 0.35 rad; a guess is off by pi / 2 on median.
    latents = jr.normal(getkey(), (64, 32))
    keys = jr.split(getkey(), 64)
    images = jax.vmap(lambda z, k: image_from_latent(z, 0.8, key=k))(latents, keys)
    fit = jax.jit(jax.vmap(lambda image: nn.fit_gratings(jnp.mean(image, -1))))
    _, phase = fit(images)
    error = np.median(_circular(phase, 2 * np.pi * latents[:, :8]))
    assert error < 0.5
    # More sweeps of the coordinate descent fit better.
    one = jax.jit(jax.vmap(lambda image: nn.fit_gratings(jnp.mean(image, -1), sweeps=1)))
    assert np.median(_circular(one(images)[1], 2 * np.pi * latents[:, :8])) > error


def test_spectral_peaks_recover_the_guide_tones(getkey):
    # Tones at least 19 Hz apart (frac |z| 0.01) with |z| >= 0.2: two tones a bin or two
    # apart make one peak, and a tone of amplitude ~0 none.
    head = jnp.array([0.31, -1.72, 0.55, 2.23, -0.94, 1.16, -0.42, 0.77, -1.38, 0.2])
    z = jnp.concatenate([head, jr.normal(getkey(), (22,))])
    audio = audio_from_latent(z, 0.8, key=getkey())
    frequency, magnitude, phase = nn.spectral_peaks(
        audio, 10, sample_rate=16000, f_min=100.0, f_max=2000.0
    )
    # The guide's time axis is linspace(0, 1, 16000): 15999 samples per second.
    true_frequency = (100.0 + 1900.0 * np.mod(np.abs(z[:10]), 1.0)) * 16000 / 15999
    nearest = np.argmin(np.abs(np.asarray(frequency)[:, None] - true_frequency[None]), axis=1)
    assert sorted(nearest.tolist()) == list(range(10))
    assert np.max(np.abs(frequency - true_frequency[nearest])) < 0.05  # Hz; bins are 1 Hz
    # The weakest tone (|z| = 0.2) sits among the others' sidelobes: 0.064 rad measured.
    phase_error = _circular(phase, 2 * np.pi * z[:10][nearest])
    assert np.max(phase_error) < 0.1 and np.median(phase_error) < 0.02
    # Largest first, proportional to the amplitudes |z|.
    assert np.all(np.diff(np.asarray(magnitude)) <= 0)
    assert np.corrcoef(magnitude, np.abs(z[:10][nearest]))[0, 1] > 0.99


def test_spectral_peaks_with_fewer_peaks_than_asked():
    t = jnp.arange(4096) / 4096
    one_tone = jnp.sin(2 * jnp.pi * 300.0 * t)
    frequency, magnitude, phase = nn.spectral_peaks(
        one_tone, 3, sample_rate=4096, f_min=100.0, f_max=1000.0
    )
    assert abs(float(frequency[0]) - 300.0) < 0.01
    assert float(magnitude[1]) < 1e-3 * float(magnitude[0])
    silence = nn.spectral_peaks(jnp.zeros(4096), 3, sample_rate=4096, f_min=100.0, f_max=1000.0)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in silence)
    assert float(jnp.max(silence[1])) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["image", "audio"])
def test_constant_input_gives_finite_embedding_and_gradient(modality, getkey):
    config = em.SyntheticConfig(modalities=["image", "audio"])
    if modality == "image":
        encoder = nn.GratingImageEncoder(config.image_shape, 16, key=getkey())
        example = jnp.zeros(config.image_shape)
    else:
        encoder = nn.PeakAudioEncoder(
            config.num_audio_samples, 16, sample_rate=config.sample_rate, key=getkey()
        )
        example = jnp.zeros(config.num_audio_samples)
    out, grads = eqx.filter_value_and_grad(lambda e: jnp.sum(e(example) ** 2))(encoder)
    assert bool(jnp.isfinite(out))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_front_ends_have_no_parameters(getkey):
    config = em.SyntheticConfig(modalities=["image", "audio"])
    image = nn.GratingImageEncoder(config.image_shape, 16, hidden=8, key=getkey())
    audio = nn.PeakAudioEncoder(16000, 16, sample_rate=16000, hidden=8, key=getkey())
    # Only the MLPs and heads are arrays: (3 + 1) and 3 linear layers, weight and bias.
    assert len(jax.tree.leaves(eqx.filter(image, eqx.is_inexact_array))) == 8
    assert len(jax.tree.leaves(eqx.filter(audio, eqx.is_inexact_array))) == 6


def test_bad_arguments_name_the_argument(getkey, without_runtime_typecheck):
    with pytest.raises(ValueError, match="frequencies"):
        nn.GratingImageEncoder((32, 32, 3), 16, frequencies=(), key=getkey())
    with pytest.raises(ValueError, match="frequencies"):
        nn.GratingImageEncoder((32, 32, 3), 16, frequencies=(2.0, -1.0), key=getkey())
    with pytest.raises(ValueError, match="num_phases"):
        nn.GratingImageEncoder((32, 32, 3), 16, num_phases=1, key=getkey())
    with pytest.raises(ValueError, match="num_peaks"):
        nn.PeakAudioEncoder(256, 16, sample_rate=256, f_min=100.0, f_max=105.0, key=getkey())
    with pytest.raises(ValueError, match="f_max"):
        nn.PeakAudioEncoder(256, 16, sample_rate=256, f_min=100.0, f_max=50.0, key=getkey())
    with without_runtime_typecheck(), pytest.raises(ValueError, match="gray"):
        nn.fit_gratings(jnp.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="sweeps"):
        nn.fit_gratings(jnp.zeros((4, 4)), sweeps=0)
    with pytest.raises(ValueError, match="f_max"):
        nn.spectral_peaks(jnp.zeros(64), 1, sample_rate=64, f_min=10.0, f_max=5.0)
    with without_runtime_typecheck(), pytest.raises(ValueError, match="audio"):
        nn.spectral_peaks(jnp.zeros((2, 64)), 1, sample_rate=64, f_min=1.0, f_max=20.0)
    image = nn.GratingImageEncoder((32, 32, 3), 16, key=getkey())
    with pytest.raises(ValueError, match=r"\(32, 32, 3\)"):
        image(jnp.zeros((16, 16, 3)))
    audio = nn.PeakAudioEncoder(256, 16, sample_rate=256, f_min=10.0, f_max=120.0, key=getkey())
    with pytest.raises(ValueError, match=r"\(256,\)"):
        audio(jnp.zeros(100))


def test_integer_band_edges_are_accepted():
    # Python ints are real numbers here: the checks must pass them on as floats.
    frequency, _, _ = nn.spectral_peaks(jnp.zeros(256), 2, sample_rate=256, f_min=10, f_max=120)
    assert frequency.shape == (2,)

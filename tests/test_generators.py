import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

from eqx_multimodal import nn
from eqx_multimodal.losses import generator_loss

from .helpers import CONFIG


def _train(model, loss_fn, steps, learning_rate=3e-3):
    optimiser = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
    state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(m, s):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(m)
        with jax.numpy_dtype_promotion("standard"):  # optax is not strict-promotion clean
            updates, s = optimiser.update(grads, s, eqx.filter(m, eqx.is_inexact_array))
        return eqx.apply_updates(m, updates), s, loss

    for _ in range(steps):
        model, state, loss = step(model, state)
    return model, float(loss)


@pytest.mark.slow
def test_image_to_text_copies_a_taught_pattern():
    images = jnp.stack([jnp.zeros(CONFIG.image_shape), jnp.ones(CONFIG.image_shape)])
    texts = jnp.array([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], jnp.int32)
    model = nn.make_generator("image", "text", CONFIG, d_model=32, key=jr.key(0))

    def loss_fn(m):
        return jnp.mean(jax.vmap(lambda x, t: generator_loss(m, x, t))(images, texts))

    model, loss = _train(model, loss_fn, 250)
    assert loss < 0.05
    greedy = jax.vmap(lambda x: model(x, greedy=True))(images)
    np.testing.assert_array_equal(greedy, texts)
    decode = eqx.filter_jit(
        lambda m, x, k: m.decoder.decode(
            m.encoder(x), method="sample", key=k, temperature=1.0, top_k=3
        )
    )
    # A confident model samples the pattern too at top-k 3 ...
    np.testing.assert_array_equal(decode(model, images[0], jr.key(1)), texts[0])


@pytest.mark.slow
def test_each_token_is_conditioned_on_the_ones_before():
    # Same image, two sequences that share a first token and then differ: only the
    # previous tokens can tell the decoder which continuation to produce.
    decoder = nn.TextDecoder(4, 10, 4, width=32, key=jr.key(0))
    condition = jnp.ones(4)
    sequences = jnp.array([[1, 2, 3, 4], [5, 6, 7, 8]], jnp.int32)
    weights = jnp.array([1.0, 1.0])

    def loss_fn(d):
        logits = jax.vmap(lambda t: d.teacher_output(condition, t))(sequences)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, sequences)
        return jnp.mean(ce[:, 1:] * weights[:, None])

    decoder, loss = _train(decoder, loss_fn, 200)
    assert loss < 0.05
    for seq in sequences:
        logits = decoder.teacher_output(condition, seq)
        np.testing.assert_array_equal(jnp.argmax(logits[1:], axis=-1), seq[1:])


@pytest.mark.slow
def test_sampling_depends_on_the_key_and_greedy_does_not():
    model = nn.make_generator("image", "text", CONFIG, d_model=16, key=jr.key(0))
    image = jr.uniform(jr.key(1), CONFIG.image_shape)
    a, b = model(image, key=jr.key(2)), model(image, key=jr.key(3))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(model(image, key=jr.key(2)), a)
    np.testing.assert_array_equal(model(image, greedy=True), model(image, greedy=True))
    # Greedy decoding is asked for, never fallen into: without a key, sampling raises.
    with pytest.raises(ValueError, match="pass `key=` to sample, or `greedy=True`"):
        model(image)
    condition = model.encoder(image)
    assert not np.array_equal(
        model.decoder.decode(condition, method="sample", key=jr.key(4), temperature=5.0),
        model.decoder.decode(condition, method="sample", key=jr.key(5), temperature=5.0),
    )
    # top_k=1 is greedy.
    np.testing.assert_array_equal(
        model.decoder.decode(condition, method="sample", key=jr.key(6), top_k=1),
        model(image, greedy=True),
    )


def test_decode_arguments_are_validated(without_runtime_typecheck):
    model = nn.make_generator("image", "text", CONFIG, d_model=16, key=jr.key(0))
    c = jnp.zeros(16)
    with pytest.raises(ValueError, match="`key` is required when method='sample'"):
        model.decoder.decode(c, method="sample")
    with without_runtime_typecheck():
        with pytest.raises(ValueError, match="`method` must be one of"):
            model.decoder.decode(c, method="beam")
        with pytest.raises(ValueError, match="`temperature` must be > 0, got 0"):
            model.decoder.decode(c, method="sample", key=jr.key(0), temperature=0.0)
        with pytest.raises(ValueError, match="`length` must be <= max_length=6, got 7"):
            model.decoder.decode(c, length=7)


def test_decoders_ranges():
    image = nn.ImageDecoder(4, (5, 6, 2), hidden=8, key=jr.key(0))(100 * jnp.ones(4))
    assert image.shape == (5, 6, 2) and float(image.min()) >= 0 and float(image.max()) <= 1
    audio = nn.AudioDecoder(4, 50, hidden=8, key=jr.key(0))(100 * jnp.ones(4))
    assert audio.shape == (50,) and float(jnp.abs(audio).max()) <= 1


def test_make_generator_validates(without_runtime_typecheck):
    with without_runtime_typecheck():
        with pytest.raises(ValueError, match="`source` and `target` must differ"):
            nn.make_generator("image", "image", CONFIG, key=jr.key(0))
        with pytest.raises(ValueError, match="`target` must be one of"):
            nn.make_generator("image", "video", CONFIG, key=jr.key(0))


def test_encoder_validation(without_runtime_typecheck):
    with pytest.raises(ValueError, match="`d_model` must be divisible by `num_heads`"):
        nn.TextEncoder(10, 30, 5, num_heads=4, key=jr.key(0))
    with pytest.raises(ValueError, match="`pad_id` must be < vocab_size=10, got 10"):
        nn.TextEncoder(10, 32, 5, pad_id=10, key=jr.key(0))
    encoder = nn.TextEncoder(10, 32, 5, key=jr.key(0))
    with pytest.raises(ValueError, match="`tokens` has length 6, longer than max_length=5"):
        encoder(jnp.zeros(6, jnp.int32))


def test_text_encoder_ignores_padding():
    encoder = nn.TextEncoder(10, 32, 8, pad_id=0, key=jr.key(0))
    a = encoder(jnp.array([3, 4, 5, 0, 0, 0, 0, 0]))
    b = encoder(jnp.array([3, 4, 5, 0, 0, 0, 0, 0]).at[5].set(0))
    np.testing.assert_allclose(a, b)
    c = encoder(jnp.array([3, 4, 5, 0, 0, 0, 0, 0]).at[5].set(7))
    assert not np.allclose(a, c)
    assert bool(jnp.all(jnp.isfinite(encoder(jnp.zeros(8, jnp.int32)))))


def _numpy_stft_magnitude(wave, n_fft, hop_length):
    padded = np.pad(np.asarray(wave, np.float64), (n_fft // 2, n_fft // 2))
    frames = 1 + (padded.shape[0] - n_fft) // hop_length
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    framed = np.stack([padded[i * hop_length : i * hop_length + n_fft] for i in range(frames)])
    return np.abs(np.fft.rfft(framed * window, axis=-1))


# hop dividing n_fft, not dividing it, longer than it, and tiny (frames gathered).
@pytest.mark.parametrize(
    "n, n_fft, hop", [(256, 64, 32), (1000, 400, 160), (999, 37, 5), (50, 16, 20), (200, 64, 1)]
)
@pytest.mark.slow
def test_stft_matches_numpy(n, n_fft, hop, getkey):
    waves = jr.normal(getkey(), (2, n))
    expected = np.stack([_numpy_stft_magnitude(w, n_fft, hop) for w in waves])
    magnitude = functools.partial(nn.stft_magnitude, n_fft=n_fft, hop_length=hop)
    assert np.allclose(jax.vmap(magnitude)(waves), expected, atol=1e-4, rtol=1e-4)
    if hop > 1:
        # The waveforms as compile-time constants: the constant folder of jax 0.5 gets
        # a gathered, windowed batch wrong, which the framing by slices avoids.
        folded = jax.jit(lambda: jax.vmap(magnitude)(waves))()
        assert np.allclose(folded, expected, atol=1e-4, rtol=1e-4)


def test_spectral_front_end():
    t = jnp.arange(4000) / 4000
    wave = jnp.sin(2 * jnp.pi * 500 * t)
    magnitude = nn.stft_magnitude(wave, n_fft=400, hop_length=100)
    assert magnitude.shape == (41, 201)
    # 500 Hz at 4 kHz with a 400-point frame: bin 50.
    assert int(jnp.argmax(magnitude[20])) == 50
    bank = nn.mel_filterbank(400, 20, 4000)
    assert bank.shape == (201, 20) and bank.min() >= 0 and np.all(bank.max(axis=0) > 0)

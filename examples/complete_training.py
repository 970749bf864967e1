"""The Multi-Modal Guide's "complete multi-modal training example", with its
placeholders replaced by real encoders, losses and an optax update.

The loop is the guide's: two datasets from one `Rngs`, `get_batch` for every step,
epochs of `len(dataset) // batch_size` steps, validation batches at the end of each
epoch. Steps 1-5 of the guide are the `SharedLatentModel` (one encoder per modality
into one latent space), the contrastive alignment loss, the per-modality
reconstruction losses, their sum, and an AdamW update.

    python examples/complete_training.py [--epochs 2] [--num-samples 2048]

(`eqx-multimodal train` is the same model trained on fresh data every step, which is
what to use for real: see the README.)
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from eqx_multimodal.losses import LossWeights, shared_latent_loss
from eqx_multimodal.metrics import retrieval_metrics
from eqx_multimodal.nn import SharedLatentModel
from eqx_multimodal.nnx import create_synthetic_multi_modal_dataset, Rngs


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--num-samples", type=int, default=2048)
parser.add_argument("--batch-size", type=int, default=64)
args = parser.parse_args()

# Setup
rngs = Rngs(0)

# Create multi-modal dataset
dataset = create_synthetic_multi_modal_dataset(
    modalities=["image", "text", "audio"],
    num_samples=args.num_samples,
    alignment_strength=0.8,
    image_shape=(32, 32, 3),
    text_vocab_size=1000,
    text_sequence_length=50,
    audio_sample_rate=16000,
    audio_duration=1.0,
    rngs=rngs,
)

# Create validation dataset (independent of the training set: a new key from `rngs`)
val_dataset = create_synthetic_multi_modal_dataset(
    modalities=["image", "text", "audio"],
    num_samples=512,
    alignment_strength=0.8,
    image_shape=(32, 32, 3),
    text_vocab_size=1000,
    text_sequence_length=50,
    audio_sample_rate=16000,
    audio_duration=1.0,
    rngs=rngs,
)

# The model: 1. an encoder per modality into one latent space, and decoders back out.
model = SharedLatentModel(dataset.config, latent_dim=128, key=rngs.params())
weights = LossWeights(
    contrastive=1.0, reconstruction={"image": 0.1, "text": 0.1, "audio": 0.1}, cycle=0.0
)
optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3, weight_decay=1e-4))
opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))


@eqx.filter_jit
def train_step(model, opt_state, batch):
    def loss_fn(model):
        # 2. alignment loss (CLIP over every pair) and 3. reconstruction losses,
        # 4. summed with their weights.
        return shared_latent_loss(model, batch, weights)

    (loss, terms), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)
    # 5. Update parameters.
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss, terms


@eqx.filter_jit
def validate_step(model, batch):
    loss, _ = shared_latent_loss(model, batch, weights)
    return loss, model.embed_batch(batch)


# Training loop
batch_size = args.batch_size
num_epochs = args.epochs

for epoch in range(num_epochs):
    num_batches = len(dataset) // batch_size

    for i in range(num_batches):
        # Get batch
        batch = dataset.get_batch(batch_size)
        model, opt_state, loss, terms = train_step(model, opt_state, batch)

    # Validation
    val_batches = len(val_dataset) // batch_size
    val_losses, latents = [], []
    for i in range(val_batches):
        val_batch = val_dataset.get_batch(batch_size)
        val_loss, val_latents = validate_step(model, val_batch)
        val_losses.append(float(val_loss))
        latents.append(val_latents)
    gallery = {k: jnp.concatenate([z[k] for z in latents]) for k in latents[0]}
    recall = retrieval_metrics(gallery["image"], gallery["audio"])
    print(
        f"Epoch {epoch + 1}/{num_epochs} complete: train loss {float(loss):.3f}, "
        f"val loss {sum(val_losses) / len(val_losses):.3f}, image->audio recall@10 "
        f"{recall['recall@10']:.3f} (chance {10 / len(gallery['image']):.3f})"
    )
jax.block_until_ready(model)

"""The Multi-Modal Guide's dataset code, with only its imports changed.

python examples/guide_datasets.py
"""

import jax.numpy as jnp

from eqx_multimodal.nnx import (
    create_synthetic_multi_modal_dataset,
    MultiModalPairedDataset,
    Rngs,
)


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
print(f"Image shape: {sample['image'].shape}")  # (32, 32, 3)
print(f"Text shape: {sample['text'].shape}")  # (50,)
print(f"Audio shape: {sample['audio'].shape}")  # (16000,)
print(f"Alignment: {sample['alignment_score']}")  # 0.8
print(f"Shared latent: {sample['latent'].shape}")  # (32,)

# Get batch from aligned dataset
batch = dataset.get_batch(batch_size=32)
print(batch["image"].shape)  # (32, 32, 32, 3)
print(batch["text"].shape)  # (32, 50)
print(batch["audio"].shape)  # (32, 16000)
print(batch["latent"].shape)  # (32, 32)

# Paired data: here, 100 samples of the aligned dataset
part = dataset[:100]
paired_dataset = MultiModalPairedDataset(
    pairs=[("image", "text"), ("image", "audio"), ("text", "audio")],
    data={"image": part["image"], "text": part["text"], "audio": part["audio"]},
    alignments=jnp.ones((100,)),
)
for i, sample in enumerate(paired_dataset):
    if i >= 3:
        break
    print(f"Sample {i}:")
    for modality in ["image", "text", "audio"]:
        print(f"  {modality}: {sample[modality].shape}")

"""The functional data API: keys in, arrays out, everything jit/vmap-able.

python examples/functional_data.py
"""

import jax
import jax.numpy as jnp
import jax.random as jr

import eqx_multimodal as em
from eqx_multimodal.guide import alignment_dependence


config = em.SyntheticConfig(modalities=["image", "text", "audio"], alignment=0.8)
dataset = em.SyntheticDataset(config, num_samples=100_000, key=jr.key(0))

# Item i is a pure function of (key, i): made alone or in a batch, it is the same.
assert jnp.allclose(dataset[12_345]["latent"], dataset[12_340:12_350]["latent"][5])

# A shuffled epoch over the first 1,024 items, 256 at a time.
head = em.SyntheticDataset(config, 1024, key=jr.key(0))
for batch in head.batches(256, key=jr.key(1)):
    print({name: value.shape for name, value in batch.items()})

# How strongly does each modality depend on its latent, as the alignment grows?
for alignment in (0.0, 0.3, 0.6, 0.9, 1.0):
    cfg = config.replace(alignment=alignment)
    batch = em.synthetic_batch(jnp.arange(128), key=jr.key(2), config=cfg)
    dependence = jax.tree.map(float, alignment_dependence(batch, cfg))
    print(f"alignment {alignment:.1f}: " + ", ".join(f"{k} {v:.2f}" for k, v in dependence.items()))

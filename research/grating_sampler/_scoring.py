"""The audio->image score both scripts report: images made from held-out clips, scored
by the guide's observation-only scorers against all the clips (`guide.reference_coherence`,
as `evaluate` scores one sample), beside the real images' own score (the ceiling)."""

import jax.random as jr
import numpy as np

from eqx_multimodal.guide import reference_coherence


def audio_to_image(images, items, data):
    """R@1 and R@10 of `images` (one per clip of `items`) and their ceilings."""
    return reference_coherence(
        np.asarray(images),
        np.asarray(items["audio"]),
        source="audio",
        target="image",
        config=data,
        key=jr.key(7),
        real_targets=np.asarray(items["image"]),
    )

"""Do a generation run's image samples differ while their coherence holds (issue 24's
`--samples 4` check, on the synthetic data)? For each of N held-out clips, K images made
from its audio alone, plus the greedy image; each sample index scored by the guide's
observation-only scorers against all N clips (`guide.reference_coherence`, as `evaluate`
scores one sample), and the samples' spread (`metrics.sample_diversity` on pixels)
beside that of real images.

    python research/grating_sampler/samples.py RUN [N] [K] [T,T,...]

With temperatures T (comma-separated), one sample of each clip at each temperature
instead, and the greedy image.
"""

import sys

import jax.random as jr
import numpy as np
from _scoring import audio_to_image

from eqx_multimodal.cli._data_options import held_out_gallery
from eqx_multimodal.metrics import sample_diversity
from eqx_multimodal.training import generative_model, load_run, translate


RUN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
K = int(sys.argv[3]) if len(sys.argv) > 3 else 4
config, state = load_run(RUN)
model = generative_model(state)
items = held_out_gallery(config.data, N, 0)
TEMPERATURES = [float(t) for t in sys.argv[4].split(",")] if len(sys.argv) > 4 else []
greedy = translate(model, {"audio": items["audio"]}, target="image", greedy=True)


def score(images):
    return audio_to_image(images, items, config.data)


if TEMPERATURES:
    print("greedy", score(greedy[:, 0]), flush=True)
    for t in TEMPERATURES:
        one = translate(
            model, {"audio": items["audio"]}, target="image", key=jr.key(1), temperature=t
        )
        print(f"temperature {t}", score(one[:, 0]), flush=True)
    sys.exit()
made = translate(model, {"audio": items["audio"]}, target="image", key=jr.key(1), samples=K)
for j in range(K):
    print(f"sample {j}", score(made[:, j]), flush=True)
print("greedy", score(greedy[:, 0]), flush=True)
print("pixels:", sample_diversity(made, real=np.asarray(items["image"])))

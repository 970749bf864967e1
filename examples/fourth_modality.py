"""A fourth modality, registered from this file: tabular features stored as one `.npy`
file a sample, beside images, captions and audio. Nothing of the library is edited.

The folder is built with the library's writer, trained briefly with `fit` and evaluated:
retrieval on the held-out test split for all 12 ordered pairs of image, text, audio and
tabular.

    python examples/fourth_modality.py --steps 60

The same folder trains from the command line, once the module that registers the
modality is imported: `eqx-multimodal train --data DIR --import fourth_modality`.
"""

import argparse
import pathlib
import tempfile

import numpy as np

import eqx_multimodal as em
from eqx_multimodal.losses import LossWeights
from eqx_multimodal.nn import MLPEncoder
from eqx_multimodal.training import evaluate, fit, TrainConfig


FEATURES = 16
RATE = 4000
WORDS = ("zero", "one", "two", "three")


def read_features(path, where):
    """One sample's features: a `.npy` file of `FEATURES` float32 values."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{where}: cannot read it as a .npy file ({error})") from None


def write_features(path, item):
    np.save(path, np.asarray(item, np.float32))


def features_encoder(spec, d_model, *, key):
    """A small MLP over the features (its input shape is the folder's item shape)."""
    return MLPEncoder(spec.shape("tabular"), 64, d_model, modality="tabular", key=key)


TABULAR = em.register_modality(
    em.Modality(
        "tabular",
        shape=(FEATURES,),
        dtype="float32",
        suffix=".npy",
        read=read_features,
        write=write_features,
        encoder=features_encoder,
    ),
    replace=True,  # running this file twice in one process (a notebook) re-registers it
)


def class_samples(n, *, seed=0, length=400):
    """`n` samples of 4 classes: a bright quadrant, a tone, a caption and features."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = 0.2 * rng.uniform(size=(n, 8, 8, 1))
    t = np.arange(length) / RATE
    audio = 0.1 * rng.normal(size=(n, length))
    features = rng.normal(size=(n, FEATURES)).astype(np.float32)
    captions = []
    for i, c in enumerate(labels):
        images[i, 4 * (c // 2) : 4 * (c // 2) + 4, 4 * (c % 2) : 4 * (c % 2) + 4] += 0.7
        audio[i] += 0.6 * np.sin(2 * np.pi * (300 + 400 * c) * t + rng.uniform(0, 6))
        features[i, 4 * c : 4 * c + 4] += 3.0
        captions.append(f"a {WORDS[c]}")
    data = {
        "image": np.clip(images, 0, 1),
        "text": np.asarray(captions),
        "audio": np.clip(audio, -1, 1),
        "tabular": features,
    }
    return data, [str(c) for c in labels]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--folder", type=pathlib.Path, default=None)
    parser.add_argument(
        "--anchor", default=None, help="train only this modality's pairs (e.g. image)"
    )
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp()) if args.folder is None else args.folder
    data, labels = class_samples(args.num_samples)
    path = em.save_paired_folder(root / "data", data, sample_rate=RATE, labels=labels)
    print(f"folder: {path} ({sorted(p.name for p in path.iterdir())})")

    folder = em.PairedFolder(path)
    print(f"modalities: {folder.modalities}, tabular item shape {folder.spec.shape('tabular')}")
    splits = em.split_indices(folder.ids)  # by id hash: no sample in two splits
    train, test = folder.subset(splits["train"]), folder.subset(splits["test"])
    config = TrainConfig(
        data=folder.spec,
        steps=args.steps,
        batch_size=16,
        latent_dim=16,
        d_model=32,
        log_every=max(1, args.steps // 2),
        eval_every=args.steps,
        checkpoint_every=10**6,
        val_gallery=16,
        loss=LossWeights(reconstruction={}, anchor=args.anchor),
    )
    state, _ = fit(config, root / "run", data=train, progress=False)
    result = evaluate(state.model, test)
    gallery = result["gallery"]
    # Captions repeat (four classes), so a text query's exact item is one of many ties:
    # the class of the best match (label precision@1, chance 0.25) says more.
    print(f"retrieval on {gallery} samples (chance: recall@1 {1 / gallery:.3f}, class 0.25):")
    for pair, scores in sorted(result["retrieval"].items()):
        label = result["label_retrieval"][pair]["precision@1"]
        print(
            f"  {pair:18s} recall@1 {scores['recall@1']:.3f}  recall@5 "
            f"{scores['recall@5']:.3f}  class@1 {label:.3f}"
        )
    print(f"{len(result['retrieval'])} ordered pairs")


if __name__ == "__main__":
    main()

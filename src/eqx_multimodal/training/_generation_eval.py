"""Measures of a generation run on held-out sources: coherence with labels (independent
judges trained on real train-split items only), fidelity and diversity per modality,
for any labelled data (reference coherence on the synthetic data is the guide's:
`guide.evaluate_reference_coherence`)."""

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from .._validation import check_int, check_real
from ..metrics import (
    coherence_accuracy,
    frechet_distance,
    judge_accuracy,
    judge_features,
    sample_diversity,
    train_judge,
)
from ..nn import GenerativeModel
from ._translate import translate


def directions(modalities: Sequence[str], sizes: Sequence[int] = (1, 2)) -> list[tuple]:
    """Every `(sources, target)`: each target from each subset of the others of the
    given sizes, e.g. `(("audio",), "image")` and `(("text", "audio"), "image")`."""
    out = []
    for target in modalities:
        others = [m for m in modalities if m != target]
        for size in sizes:
            for sources in itertools.combinations(others, size):
                out.append((sources, target))
    return out


def direction_name(sources: Sequence[str], target: str) -> str:
    """`"audio+text->image"`."""
    return f"{'+'.join(sources)}->{target}"


def _label_indices(labels: Sequence[Any], names: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    return np.asarray([index.get(x, -1) if x is not None else -1 for x in labels])


def evaluate_generation(
    model: GenerativeModel,
    test: Mapping[str, Any],
    test_labels: Sequence[Any],
    train: Mapping[str, Any],
    train_labels: Sequence[Any],
    data: Any,
    *,
    key: PRNGKeyArray,
    samples: int = 4,
    judge_steps: int = 500,
    temperature: float = 1.0,
    progress: Any = None,
) -> dict[str, Any]:
    """Coherence, fidelity and diversity of a generation run on labelled held-out data.

    One judge per modality (`metrics.train_judge`: generic towers of its own, its own
    key) is trained only on the REAL items of `train` with their labels; it never sees
    a generated item, and it is not the generator's encoder. Then, for every direction
    and every two-source subset, `samples` items are generated from each held-out
    source (`translate`) and judged; `greedy_accuracy` judges the one greedy output
    (the prior's mean, the most likely tokens) beside the samples' `accuracy`.

    **Arguments:**

    - `model`: a `GenerativeModel`.
    - `test`, `train`: `{modality: (n, ...)}` real items of the held-out and the train
        split.
    - `test_labels`, `train_labels`: their labels (strings; None for unlabelled).
    - `data`: the run's `DataSpec` (or anything with a `spec`).
    - `key`: keyword only. The judges' and the samples' randomness.
    - `samples`: keyword only. Samples per source (>= 2 for diversity).
    - `judge_steps`: keyword only. The judges' training steps.
    - `temperature`: keyword only. The samples' temperature (`translate`).
    - `progress`: keyword only. Called with a line of what is being done, if given.

    **Returns:**

    `{"coherence": {"a->t": {"accuracy", "greedy_accuracy", "judge_on_real"}, "a+b->t": ...},
    "fidelity": {t: {"frechet", "frechet_real"}}, "diversity": {t: {"diversity",
    "real_diversity"}}, "samples": K}`. `frechet_real` is the distance between the two
    halves of the real held-out items: the floor set by their number.
    """
    samples = check_int(samples, "samples")
    temperature = check_real(temperature, "temperature", low=0.0, low_open=True)
    names = sorted({x for x in [*train_labels, *test_labels] if x is not None})
    if len(names) < 2:
        raise ValueError("coherence with labels needs labelled data with two classes or more")
    y_train = _label_indices(train_labels, names)
    y_test = _label_indices(test_labels, names)
    modalities = [m for m in model.latent.modalities if m in test and m in train]
    judge_key, sample_key = jr.split(key)
    judges, on_real = {}, {}
    for modality, k in zip(modalities, jr.split(judge_key, len(modalities))):
        if modality not in model.generators.generators:
            continue
        if progress:
            progress(f"training the {modality} judge on {len(y_train)} real train items")
        judges[modality] = train_judge(
            modality,
            np.asarray(train[modality]),
            y_train,
            data,
            key=k,
            num_classes=len(names),
            steps=judge_steps,
        )
        on_real[modality] = judge_accuracy(judges[modality], np.asarray(test[modality]), y_test)
    result: dict[str, Any] = {"coherence": {}, "fidelity": {}, "diversity": {}}
    largest: dict[str, np.ndarray] = {}
    for i, (sources, target) in enumerate(directions(modalities)):
        if target not in judges:
            continue
        name = direction_name(sources, target)
        if progress:
            progress(f"generating {name}")
        made = translate(
            model,
            {s: test[s] for s in sources},
            target=target,
            key=jr.fold_in(sample_key, i),
            samples=samples,
            temperature=temperature,
        )
        greedy = translate(model, {s: test[s] for s in sources}, target=target, greedy=True)
        result["coherence"][name] = {
            "accuracy": coherence_accuracy(judges[target], made, y_test),
            "greedy_accuracy": coherence_accuracy(judges[target], greedy, y_test),
            "judge_on_real": on_real[target],
        }
        if target not in largest or len(sources) > 1:
            largest[target] = made
    for target, made in largest.items():
        real = np.asarray(test[target])
        real_features = judge_features(judges[target], real)
        half = len(real) // 2
        result["fidelity"][target] = {
            "frechet": frechet_distance(real_features, judge_features(judges[target], made)),
            "frechet_real": frechet_distance(real_features[:half], real_features[half:]),
        }
        if samples >= 2:
            result["diversity"][target] = sample_diversity(made, real=real)
    result["samples"] = samples
    result["temperature"] = temperature
    result["judges"] = {"trained_on": "real train-split items", "steps": judge_steps}
    return result

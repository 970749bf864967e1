"""Translation with a trained generation run: sources in, `samples` generated targets
out, batched and compiled."""

from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from .._validation import check_int, check_real
from ..nn import GenerativeModel
from ._evaluate import CHUNK
from ._rerank import bucket
from ._step import TrainState


def generative_model(state: TrainState, where: str = "this run") -> GenerativeModel:
    """The `GenerativeModel` of a training state (a one-line error for a run trained
    without `generation`)."""
    if state.generators is None:
        raise ValueError(
            f"{where} has no generators: it was trained without generation (train with "
            "`--generation`, or a `TrainConfig` with `generation=GenerationConfig()`)"
        )
    return GenerativeModel(state.model, state.generators)


def check_directions(
    model: GenerativeModel, sources: Sequence[str], target: str, *, what: str = "sources"
) -> tuple[tuple[str, ...], str]:
    """Sources and target named as they must be: known to the model, none repeated,
    at least one source, the target not among them."""
    known = model.latent.modalities
    names = list(sources)
    if not names:
        raise ValueError(f"`{what}` must name at least one modality, got none")
    for name in [*names, target]:
        if name not in known:
            raise ValueError(f"unknown modality {name!r}: the run has {list(known)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"`{what}` names {repeated[0]!r} more than once")
    if target in names:
        raise ValueError(f"the target {target!r} is also a source; generate it from the others")
    model.generators.generator(target)
    return tuple(names), target


@eqx.filter_jit
def _translate_chunk(
    model: GenerativeModel,
    sources: dict[str, Array],
    rows: Array,
    key: PRNGKeyArray | None,
    target: str,
    samples: int,
    greedy: bool,
    temperature: float,
) -> Array:
    def one(items: dict[str, Array], row: Array) -> Array:
        latents = {name: model.latent.embed(name, x) for name, x in items.items()}

        def draw(index: Array) -> Array:
            if greedy or key is None:
                return model.generators.generate(target, latents, greedy=True)
            sample_key = jr.fold_in(jr.fold_in(key, row), index)
            return model.generators.generate(
                target, latents, key=sample_key, temperature=temperature
            )

        return jax.vmap(draw)(jnp.arange(samples))

    return jax.vmap(one)(sources, rows)


def translate(
    model: GenerativeModel,
    sources: Mapping[str, Any],
    *,
    target: str,
    key: PRNGKeyArray | None = None,
    samples: int = 1,
    greedy: bool = False,
    temperature: float = 1.0,
    chunk: int = CHUNK,
) -> np.ndarray:
    """Generate `target` from every row of `sources`, `samples` times each.

    Batched and compiled: `chunk` rows at a time (padded to a power of two, so a few
    compilations serve every size). Sample `j` of row `i` is drawn with
    `fold_in(fold_in(key, i), j)`: the output does not depend on `chunk`.

    **Arguments:**

    - `model`: a `GenerativeModel` (`generative_model(state)` of a generation run).
    - `sources`: `{modality: (n, ...) array}`, one or more of the other modalities.
    - `target`: keyword only. The modality to make.
    - `key`: keyword only. The randomness (required unless `greedy`).
    - `samples`: keyword only. Outputs per row, >= 1.
    - `greedy`: keyword only. The prior's mean and the decoder's most likely output
        (then every sample is the same).
    - `temperature`: keyword only. A Python float > 0: how wide to sample (`z` from
        `N(0, temperature^2 I)`, text's logits divided by it); 1 samples the trained
        model, lower trades diversity for coherence (see `ModalityGenerator`).
    - `chunk`: keyword only. Rows compiled together.

    **Returns:**

    `(n, samples, ...)`: the generated items, as a NumPy array.

    ```python
    >>> import jax.numpy as jnp, jax.random as jr
    >>> from eqx_multimodal import SyntheticConfig
    >>> from eqx_multimodal.training import GenerationConfig, TrainConfig, init_state
    >>> data = SyntheticConfig(modalities=["image", "text"], image_shape=(8, 8, 1),
    ...                        vocab_size=20, seq_length=4)
    >>> config = TrainConfig(data=data, latent_dim=8, d_model=8, towers="guide",
    ...                      generation=GenerationConfig(width=8, z_dim=2))
    >>> model = generative_model(init_state(config))
    >>> tokens = jnp.zeros((3, 4), jnp.int32)
    >>> translate(model, {"text": tokens}, target="image", key=jr.key(0), samples=2).shape
    (3, 2, 8, 8, 1)

    ```
    """
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"`model` must be a GenerativeModel, got {type(model).__name__}")
    names, target = check_directions(model, list(sources), target)
    samples = check_int(samples, "samples")
    check_int(chunk, "chunk")
    temperature = check_real(temperature, "temperature", low=0.0, low_open=True)
    if key is None and not greedy:
        raise ValueError("`key` is required to sample; pass key=..., or greedy=True")
    arrays = {name: np.asarray(sources[name]) for name in names}
    sizes = {len(a) for a in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(
            f"every source must have the same number of rows, got "
            f"{ {n: len(a) for n, a in arrays.items()} }"
        )
    size = sizes.pop()
    if size == 0:
        raise ValueError("`sources` has no rows")
    width = bucket(size, chunk)
    parts = []
    for start in range(0, size, width):
        stop = min(start + width, size)
        rows = np.arange(start, start + width) % size  # padded with repeats, then cut
        batch = {name: jnp.asarray(a[rows]) for name, a in arrays.items()}
        out = _translate_chunk(
            model, batch, jnp.asarray(rows, jnp.int32), key, target, samples, greedy, temperature
        )
        parts.append(np.asarray(out)[: stop - start])
    return np.concatenate(parts)

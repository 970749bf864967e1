"""The guide's synthetic data as a dataset: item `i` rendered from the key and `i`."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray

from .._validation import check_int, check_key
from ..data import AbstractDataset, ArrayDataset
from ..data._dataset import MAX_SAMPLES
from ._synthetic import synthetic_batch
from ._synthetic_config import SyntheticConfig


class SyntheticDataset(AbstractDataset):
    """The lazy synthetic aligned dataset: item `i` is `synthetic_item(key, i, config)`.

    Nothing is stored; every item is made on demand, so the dataset can be as large as
    an index allows and any slice of it can be made anywhere, in any order. It is a
    pytree, so it can be passed into `jax.jit` and `jax.vmap`.

    ```python
    >>> import jax.random as jr
    >>> config = SyntheticConfig(image_shape=(8, 8, 3), duration=0.25, sample_rate=4000)
    >>> dataset = SyntheticDataset(config, 1000, key=jr.key(0))
    >>> batch = dataset[10:42]
    >>> batch["image"].shape, batch["text"].shape, batch["audio"].shape
    ((32, 8, 8, 3), (32, 50), (32, 1000))

    ```
    """

    config: SyntheticConfig
    key: PRNGKeyArray
    num_samples: int = eqx.field(static=True)

    def __init__(self, config: SyntheticConfig, num_samples: int, *, key: PRNGKeyArray):
        """**Arguments:**

        - `config`: a `SyntheticConfig`.
        - `num_samples`: the length of the dataset, at most 2**31 - 1.
        - `key`: keyword only. The dataset's key; item `i` is made from `fold_in(key, i)`.
        """
        if not isinstance(config, SyntheticConfig):
            raise TypeError(f"`config` must be a SyntheticConfig, got {config!r}")
        self.config = config
        self.num_samples = check_int(num_samples, "num_samples")
        if self.num_samples > MAX_SAMPLES:
            raise ValueError(f"`num_samples` must be at most {MAX_SAMPLES}, got {num_samples}")
        self.key = check_key(key)

    def __len__(self) -> int:
        return self.num_samples

    @property
    def item_bytes(self) -> int:
        return self.config.sample_bytes

    def take(self, indices: Int[Array, " batch"]) -> dict[str, Array]:
        return synthetic_batch(indices, key=self.key, config=self.config)

    def materialise(self, batch_size: int = 256) -> ArrayDataset:
        """Make every item now and keep them in memory (`batch_size` at a time).

        ```python
        >>> import jax.random as jr
        >>> config = SyntheticConfig(modalities=["text"])
        >>> SyntheticDataset(config, 10, key=jr.key(0)).materialise(4)[:]["text"].shape
        (10, 50)

        ```
        """
        chunks = list(self.batches(batch_size, shuffle=False))
        return ArrayDataset({k: jnp.concatenate([c[k] for c in chunks]) for k in chunks[0]})

"""eqx-multimodal: multi-modal machine learning in JAX and Equinox."""

import importlib.metadata

from .data import (
    AbstractDataset as AbstractDataset,
    ArrayDataset as ArrayDataset,
    Batches as Batches,
    ByteTokenizer as ByteTokenizer,
    DataSpec as DataSpec,
    GrainSource as GrainSource,
    load_paired_folder as load_paired_folder,
    PairedDataset as PairedDataset,
    PairedFolder as PairedFolder,
    save_paired_folder as save_paired_folder,
    split_indices as split_indices,
)
from .distributed import (
    data_mesh as data_mesh,
    process_rows as process_rows,
    replicate as replicate,
    shard_batch as shard_batch,
)
from .modalities import (
    get_modality as get_modality,
    Modality as Modality,
    register_modality as register_modality,
    registered_modalities as registered_modalities,
)


#: The subpackages, reachable as attributes (`em.training.fit`) and imported on first
#: use, so that `import eqx_multimodal` stays light (and never imports `nnx`'s Flax).
_SUBPACKAGES = (
    "cli",
    "data",
    "distributed",
    "guide",
    "losses",
    "metrics",
    "modalities",
    "nn",
    "nnx",
    "testing",
    "training",
    "viz",
)


#: The guide's synthetic data, at the package's face as before it moved to
#: `eqx_multimodal.guide`; loaded on first use.
_FROM_THE_GUIDE = (
    "audio_from_latent",
    "image_from_latent",
    "sample_from_latent",
    "sharded_synthetic_batch",
    "synthetic_batch",
    "synthetic_item",
    "SyntheticConfig",
    "SyntheticDataset",
    "text_from_latent",
)


def __getattr__(name: str) -> object:
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FROM_THE_GUIDE:
        return getattr(importlib.import_module(".guide", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES, *_FROM_THE_GUIDE})


try:
    __version__ = importlib.metadata.version("eqx_multimodal")
except importlib.metadata.PackageNotFoundError:  # used from a source tree, not installed
    __version__ = "0+unknown"

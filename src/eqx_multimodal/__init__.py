"""eqx-multimodal: multi-modal machine learning in JAX and Equinox."""

import importlib.metadata

from .data import (
    AbstractDataset as AbstractDataset,
    ArrayDataset as ArrayDataset,
    audio_from_latent as audio_from_latent,
    Batches as Batches,
    ByteTokenizer as ByteTokenizer,
    DataSpec as DataSpec,
    GrainSource as GrainSource,
    image_from_latent as image_from_latent,
    load_paired_folder as load_paired_folder,
    PairedDataset as PairedDataset,
    PairedFolder as PairedFolder,
    sample_from_latent as sample_from_latent,
    save_paired_folder as save_paired_folder,
    sharded_synthetic_batch as sharded_synthetic_batch,
    split_indices as split_indices,
    synthetic_batch as synthetic_batch,
    synthetic_item as synthetic_item,
    SyntheticConfig as SyntheticConfig,
    SyntheticDataset as SyntheticDataset,
    text_from_latent as text_from_latent,
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


def __getattr__(name: str) -> object:
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES})


try:
    __version__ = importlib.metadata.version("eqx_multimodal")
except importlib.metadata.PackageNotFoundError:  # used from a source tree, not installed
    __version__ = "0+unknown"

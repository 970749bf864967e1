"""Synthetic aligned data, paired datasets and batching: pure functions of keys."""

from ._config import SyntheticConfig as SyntheticConfig
from ._dataset import (
    AbstractDataset as AbstractDataset,
    ArrayDataset as ArrayDataset,
    Batches as Batches,
    SyntheticDataset as SyntheticDataset,
)
from ._files import (
    load_paired_folder as load_paired_folder,
    save_paired_folder as save_paired_folder,
)
from ._grain import GrainSource as GrainSource
from ._paired import PairedDataset as PairedDataset
from ._sharding import (
    batch_sharding as batch_sharding,
    data_mesh as data_mesh,
    local_copy as local_copy,
    process_rows as process_rows,
    replicate as replicate,
    replicated_sharding as replicated_sharding,
    shard_batch as shard_batch,
    sharded_synthetic_batch as sharded_synthetic_batch,
)
from ._synthetic import (
    audio_from_latent as audio_from_latent,
    image_from_latent as image_from_latent,
    sample_from_latent as sample_from_latent,
    synthetic_batch as synthetic_batch,
    synthetic_item as synthetic_item,
    text_from_latent as text_from_latent,
)

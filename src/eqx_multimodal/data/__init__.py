"""Arrays in: the synthetic aligned data (pure functions of keys), your own paired arrays
and folders of files, tokenizers, splits, and batching."""

from ._codecs import PILLOW_HINT as PILLOW_HINT
from ._config import SyntheticConfig as SyntheticConfig
from ._dataset import (
    AbstractDataset as AbstractDataset,
    ArrayDataset as ArrayDataset,
    Batches as Batches,
    SyntheticDataset as SyntheticDataset,
)
from ._digits import (
    build_spoken_digits as build_spoken_digits,
    check_digits_requirements as check_digits_requirements,
)
from ._formats import (
    AbstractColumn as AbstractColumn,
    AbstractColumnWriter as AbstractColumnWriter,
    JsonLines as JsonLines,
    ModalityFiles as ModalityFiles,
    PNGImages as PNGImages,
    WavClips as WavClips,
)
from ._grain import GrainSource as GrainSource
from ._loader import load_paired_folder as load_paired_folder, PairedFolder as PairedFolder
from ._loading import BatchStream as BatchStream
from ._paired import PairedDataset as PairedDataset
from ._sharded import sharded_synthetic_batch as sharded_synthetic_batch
from ._spec import as_spec as as_spec, DataSpec as DataSpec
from ._splits import (
    DEFAULT_FRACTIONS as DEFAULT_FRACTIONS,
    split_indices as split_indices,
    SPLITS as SPLITS,
)
from ._synthetic import (
    audio_from_latent as audio_from_latent,
    audio_tone as audio_tone,
    image_from_latent as image_from_latent,
    image_pattern as image_pattern,
    sample_from_latent as sample_from_latent,
    synthetic_batch as synthetic_batch,
    synthetic_item as synthetic_item,
    text_from_latent as text_from_latent,
    token_groups as token_groups,
    token_logits as token_logits,
)
from ._text import (
    ByteTokenizer as ByteTokenizer,
    HuggingFaceTokenizer as HuggingFaceTokenizer,
    tokenize as tokenize,
    Tokenizer as Tokenizer,
    tokenizer_from_dict as tokenizer_from_dict,
)
from ._writer import (
    PairedFolderWriter as PairedFolderWriter,
    remove_partials as remove_partials,
    save_paired_folder as save_paired_folder,
)

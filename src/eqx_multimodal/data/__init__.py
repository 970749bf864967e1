"""Arrays in: your own paired arrays and folders of files, tokenizers, splits, and
batching. The guide's synthetic data moved to `eqx_multimodal.guide`; its names here
still work (`MOVED_TO_THE_GUIDE`)."""

from ._codecs import PILLOW_HINT as PILLOW_HINT
from ._dataset import (
    AbstractDataset as AbstractDataset,
    ArrayDataset as ArrayDataset,
    Batches as Batches,
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
from ._spec import as_spec as as_spec, DataSpec as DataSpec
from ._splits import (
    DEFAULT_FRACTIONS as DEFAULT_FRACTIONS,
    split_indices as split_indices,
    SPLITS as SPLITS,
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


#: The guide's synthetic data, which moved to `eqx_multimodal.guide`: its old names here
#: still work, through a lookup on first use (the core never makes it).
MOVED_TO_THE_GUIDE = (
    "audio_from_latent",
    "audio_tone",
    "image_from_latent",
    "image_pattern",
    "sample_from_latent",
    "sharded_synthetic_batch",
    "synthetic_batch",
    "synthetic_item",
    "SyntheticConfig",
    "SyntheticDataset",
    "text_from_latent",
    "token_groups",
    "token_logits",
)


def __dir__() -> list[str]:
    return sorted({*globals(), *MOVED_TO_THE_GUIDE})


def __getattr__(name: str):
    if name in MOVED_TO_THE_GUIDE:
        import importlib

        return getattr(importlib.import_module("eqx_multimodal.guide"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

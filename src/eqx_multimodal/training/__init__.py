"""Training and evaluation of the shared-latent model."""

from ._checkpoint import (
    CheckpointError as CheckpointError,
    load_checkpoint as load_checkpoint,
    read_index as read_index,
    save_checkpoint as save_checkpoint,
)
from ._config import (
    GenerationConfig as GenerationConfig,
    MAX_COUNT as MAX_COUNT,
    TrainConfig as TrainConfig,
)
from ._data_config import (
    AbstractDataConfig as AbstractDataConfig,
    register_data_config as register_data_config,
    UnknownDataConfigError as UnknownDataConfigError,
)
from ._evaluate import embed as embed, evaluate as evaluate
from ._fit import (
    fit as fit,
    load_run as load_run,
    RESUMABLE_CHANGES as RESUMABLE_CHANGES,
    TrainingDiverged as TrainingDiverged,
    write_evaluation as write_evaluation,
)
from ._folder import (
    prepare_run_folder as prepare_run_folder,
    RUN_FILES as RUN_FILES,
    run_files as run_files,
)
from ._rerank import AbstractReranker as AbstractReranker
from ._source import (
    AbstractDataSource as AbstractDataSource,
    data_source as data_source,
    DatasetSource as DatasetSource,
    Feed as Feed,
    SyntheticSource as SyntheticSource,
)
from ._step import (
    GENERATION_STREAM as GENERATION_STREAM,
    init_state as init_state,
    INIT_STREAM as INIT_STREAM,
    make_batch_step as make_batch_step,
    make_generators_of as make_generators_of,
    make_model as make_model,
    make_optimizer as make_optimizer,
    make_step as make_step,
    stream_key as stream_key,
    TEST_STREAM as TEST_STREAM,
    TRAIN_STREAM as TRAIN_STREAM,
    TrainState as TrainState,
    VALIDATION_STREAM as VALIDATION_STREAM,
)
from ._translate import (
    check_directions as check_directions,
    generative_model as generative_model,
    translate as translate,
)


def __getattr__(name: str):
    # `training_alignment`, the guide's curriculum, moved to `eqx_multimodal.guide`.
    if name == "training_alignment":
        import importlib

        return getattr(importlib.import_module("eqx_multimodal.guide"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

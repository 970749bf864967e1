"""Training and evaluation of the shared-latent model."""

from ._checkpoint import (
    CheckpointError as CheckpointError,
    load_checkpoint as load_checkpoint,
    save_checkpoint as save_checkpoint,
)
from ._config import TrainConfig as TrainConfig
from ._distributed import initialize_distributed as initialize_distributed
from ._trainer import (
    evaluate as evaluate,
    fit as fit,
    init_state as init_state,
    load_run as load_run,
    make_batch_step as make_batch_step,
    make_gallery as make_gallery,
    make_model as make_model,
    make_optimizer as make_optimizer,
    make_step as make_step,
    stream_key as stream_key,
    TEST_STREAM as TEST_STREAM,
    training_alignment as training_alignment,
    TrainState as TrainState,
    write_evaluation as write_evaluation,
)

from .checkpoint_io import (AtomicLocalBackend, CheckpointError, check_training_checkpoint,
                            find_resume_checkpoint, load_local_checkpoint,
                            weights_only_loading)
from .gradient_variance import gradient_variance, model_loss
from .hooks import (GradientVarianceHook, RandomStateHook, SampleGridHook,
                    WeightsOnlyCheckpointHook)
from .optim_wrapper import FiniteLossAmpOptimWrapper, FiniteLossOptimWrapper
from .random_state import preserved_rng_state, rng_state, set_rng_state

__all__ = [
    'AtomicLocalBackend', 'CheckpointError', 'check_training_checkpoint',
    'find_resume_checkpoint', 'load_local_checkpoint', 'weights_only_loading',
    'gradient_variance', 'model_loss', 'GradientVarianceHook', 'RandomStateHook',
    'SampleGridHook', 'WeightsOnlyCheckpointHook', 'FiniteLossOptimWrapper',
    'FiniteLossAmpOptimWrapper', 'preserved_rng_state', 'rng_state', 'set_rng_state'
]

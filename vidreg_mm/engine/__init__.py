from .checkpoint_io import (AtomicLocalBackend, CheckpointError, check_training_checkpoint,
                            find_resume_checkpoint, load_local_checkpoint, refuse_mismatch,
                            sampling_weights, weights_only_loading)
from .gradient_variance import gradient_variance, model_loss, noise_to_signal
from .hooks import (GradientVarianceHook, RandomStateHook, ResumableCheckpointHook, SampleGridHook,
                    WeightsOnlyCheckpointHook, write_grid)
from .optim_wrapper import FiniteLossAmpOptimWrapper, FiniteLossOptimWrapper
from .random_state import preserved_rng_state, rng_state, set_rng_state

__all__ = [
    'AtomicLocalBackend', 'CheckpointError', 'check_training_checkpoint',
    'find_resume_checkpoint', 'load_local_checkpoint', 'weights_only_loading',
    'refuse_mismatch', 'sampling_weights',
    'gradient_variance', 'model_loss', 'noise_to_signal', 'GradientVarianceHook',
    'RandomStateHook', 'ResumableCheckpointHook', 'SampleGridHook', 'write_grid',
    'WeightsOnlyCheckpointHook',
    'FiniteLossOptimWrapper', 'FiniteLossAmpOptimWrapper', 'preserved_rng_state', 'rng_state',
    'set_rng_state'
]

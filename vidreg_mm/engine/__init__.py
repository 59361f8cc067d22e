from .checkpoint_io import (AtomicLocalBackend, CheckpointError, check_training_checkpoint,
                            find_resume_checkpoint)
from .gradient_variance import gradient_variance, model_loss, preserved_rng_state
from .hooks import (GradientVarianceHook, RandomStateHook, SampleGridHook,
                    WeightsOnlyCheckpointHook)

__all__ = [
    'AtomicLocalBackend', 'CheckpointError', 'check_training_checkpoint',
    'find_resume_checkpoint', 'gradient_variance', 'model_loss', 'preserved_rng_state',
    'GradientVarianceHook', 'RandomStateHook', 'SampleGridHook', 'WeightsOnlyCheckpointHook'
]

from .gradient_variance import gradient_variance, model_loss, preserved_rng_state
from .hooks import GradientVarianceHook, SampleGridHook, WeightsOnlyCheckpointHook

__all__ = [
    'gradient_variance', 'model_loss', 'preserved_rng_state', 'GradientVarianceHook',
    'SampleGridHook', 'WeightsOnlyCheckpointHook'
]

from .checkpoint_hook import ResumableCheckpointHook
from .gradient_variance_hook import GradientVarianceHook
from .random_state_hook import RandomStateHook
from .sample_grid_hook import SampleGridHook, write_grid
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = ['GradientVarianceHook', 'RandomStateHook', 'ResumableCheckpointHook', 'SampleGridHook',
           'WeightsOnlyCheckpointHook', 'write_grid']

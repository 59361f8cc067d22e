from .sample_grid_hook import SampleGridHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = ['SampleGridHook', 'WeightsOnlyCheckpointHook']

from .hooks import SampleGridHook, WeightsOnlyCheckpointHook

__all__ = ['SampleGridHook', 'WeightsOnlyCheckpointHook']

from .data_preprocessor import FramePairDataPreprocessor
from .flow_matching import FlowMatchingScheduler
from .losses import TemporalRegLoss
from .temporal_diffusion import TemporalDiffusionModel

__all__ = ['FlowMatchingScheduler', 'FramePairDataPreprocessor', 'TemporalRegLoss',
           'TemporalDiffusionModel']

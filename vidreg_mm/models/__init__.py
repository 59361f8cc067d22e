from .data_preprocessor import FramePairDataPreprocessor
from .losses import TemporalRegLoss
from .temporal_diffusion import TemporalDiffusionModel

__all__ = ['FramePairDataPreprocessor', 'TemporalRegLoss', 'TemporalDiffusionModel']

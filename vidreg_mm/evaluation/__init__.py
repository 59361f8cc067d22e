from .feature_extractors import RandomConvFeatures
from .metrics import FrameDiversity, FrameFID, manifold_metrics

__all__ = ['RandomConvFeatures', 'FrameFID', 'FrameDiversity', 'manifold_metrics']

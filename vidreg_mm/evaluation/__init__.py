from .evaluator import NamedMetricsEvaluator
from .feature_extractors import RandomConvFeatures
from .metrics import FrameDiversity, FrameFID, manifold_metrics

__all__ = ['NamedMetricsEvaluator', 'RandomConvFeatures', 'FrameFID', 'FrameDiversity',
           'manifold_metrics']

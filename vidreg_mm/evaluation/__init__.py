from .evaluator import NamedMetricsEvaluator
from .feature_extractors import PackagedInceptionV3, RandomConvFeatures
from .metrics import (FrameDiversity, FrameFID, FrameKID, SampleRoughness,
                      kernel_inception_distance, manifold_metrics, roughness)
from .pose import HandPoseRegressor, PoseRegressorFeatures

__all__ = ['NamedMetricsEvaluator', 'PackagedInceptionV3', 'RandomConvFeatures', 'FrameFID',
           'FrameDiversity', 'FrameKID', 'SampleRoughness', 'kernel_inception_distance',
           'manifold_metrics', 'roughness', 'HandPoseRegressor', 'PoseRegressorFeatures']

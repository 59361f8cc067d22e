from .diversity import FrameDiversity, manifold_metrics
from .frame_fid import FrameFID
from .kid import FrameKID, kernel_inception_distance
from .roughness import SampleRoughness, roughness

__all__ = ['FrameFID', 'FrameDiversity', 'FrameKID', 'SampleRoughness', 'manifold_metrics',
           'kernel_inception_distance', 'roughness']

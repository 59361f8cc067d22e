from .diversity import FrameDiversity, manifold_metrics
from .frame_fid import FrameFID

__all__ = ['FrameFID', 'FrameDiversity', 'manifold_metrics']

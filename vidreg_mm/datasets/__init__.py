from .clip_sources import detect_source, scan_frame_folders, scan_handco, scan_videos
from .frame_pair_dataset import VideoFramePairDataset, check_offset_range
from .loading import BrokenFrameError, LoadClipFrames, UnsupportedFrameError, open_video
from .synthetic_hands import SyntheticHandsConfig, ensure_synthetic_hands, generate_synthetic_hands
from .transforms import (PackFrames, PairedCenterCropLongEdge, PairedColorJitter,
                         PairedRandomResizedCrop)

__all__ = [
    'VideoFramePairDataset', 'check_offset_range', 'LoadClipFrames', 'BrokenFrameError',
    'UnsupportedFrameError', 'open_video', 'PackFrames', 'PairedCenterCropLongEdge',
    'PairedColorJitter', 'PairedRandomResizedCrop',
    'SyntheticHandsConfig', 'generate_synthetic_hands', 'ensure_synthetic_hands',
    'detect_source', 'scan_handco', 'scan_videos', 'scan_frame_folders'
]

from .clip_sampling import SampleClipFrames, check_offset_range
from .clip_sources import detect_source, scan_frame_folders, scan_videos
from .frame_pair_dataset import VideoFramePairDataset
from .hand_poses import (CURL_NAMES, POSE_NAMES, finger_curls, sample_synthetic_hand_frames,
                         synthetic_hands_poses)
from .handco import scan_handco
from .image_decoding import BrokenFrameError, UnsupportedFrameError
from .loading import LoadClipFrames, open_video, write_video
from .synthetic_hands import (PRESETS, SyntheticHandsConfig, ensure_synthetic_hands,
                              generate_synthetic_hands)
from .transforms import (PackFrames, PairedCenterCropLongEdge, PairedColorJitter,
                         PairedRandomResizedCrop, ResizeFrames)

__all__ = [
    'VideoFramePairDataset', 'SampleClipFrames', 'check_offset_range', 'LoadClipFrames',
    'BrokenFrameError',
    'UnsupportedFrameError', 'open_video', 'write_video', 'PackFrames', 'PairedCenterCropLongEdge',
    'PairedColorJitter', 'PairedRandomResizedCrop', 'ResizeFrames',
    'SyntheticHandsConfig', 'PRESETS', 'generate_synthetic_hands', 'ensure_synthetic_hands',
    'synthetic_hands_poses', 'sample_synthetic_hand_frames', 'POSE_NAMES',
    'CURL_NAMES', 'finger_curls',
    'detect_source', 'scan_handco', 'scan_videos', 'scan_frame_folders'
]

"""Shot cuts in video files, found once at index time and cached: two frames on either side
of a cut are not a temporal pair.

Two of PySceneDetect's detectors, both scoring the change of hue, saturation and lightness
between consecutive frames (``content_val``), a shot being at least ``min_scene_len`` frames:

- ``'adaptive'`` (the default, ``AdaptiveDetector``): a cut where a frame's score is at least
  ``threshold`` (2.0) times the mean score of the ``window_width`` = 2 frames on either side,
  and at least ``min_content_val`` (15). Relative to its neighbours, so a moving camera, whose
  every frame changes a lot, does not hide cuts or make false ones; a cut within two frames
  of a video's end is not found.
- ``'content'`` (``ContentDetector``): a cut where the score exceeds ``threshold`` (27).

It is fed the frames that the dataset's video decoder gives, so cut positions are indices of
the frames training reads. Results are cached as JSON files keyed by the video's absolute
path, size and modification time, the decoder and the detector's options, under
``cache_dir`` (default ``~/.cache/vidreg-mm/shots``, or ``$VIDREG_CACHE_DIR/shots``); a
dataset folder is never written to.
"""
import hashlib
import json
import os
import os.path as osp
from typing import List, Optional

import numpy as np

from ..fileio import atomic_open, user_cache_dir

#: each detector's default threshold (see the module docstring for what it compares)
DEFAULT_THRESHOLDS = dict(adaptive=2.0, content=27.0)
KNOWN_KEYS = ('detector', 'threshold', 'min_scene_len', 'min_content_val', 'width', 'cache_dir')


def check_shot_detection(options: Optional[dict]) -> Optional[dict]:
    """The dataset key ``shot_detection``: None (off) or a dict of ``detector`` ('adaptive'
    or 'content'), ``threshold`` (> 0; by default 2.0 for 'adaptive', 27.0 for 'content'),
    ``min_scene_len`` (>= 1 frames), ``min_content_val`` ('adaptive' only, >= 0), ``width``
    (frames are resized to this width before detection, >= 16) and ``cache_dir``."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise ValueError(f'shot_detection must be None or a dict, got {options!r}')
    unknown = set(options) - set(KNOWN_KEYS)
    if unknown:
        raise ValueError(f'shot_detection: unknown keys {sorted(unknown)} (known: '
                         f'{", ".join(KNOWN_KEYS)})')
    detector = options.get('detector', 'adaptive')
    if detector not in DEFAULT_THRESHOLDS:
        raise ValueError(f"shot_detection.detector must be 'adaptive' or 'content', got "
                         f'{detector!r}')
    if detector == 'content' and 'min_content_val' in options:
        raise ValueError("shot_detection.min_content_val applies to detector='adaptive' only")
    opts = {**dict(detector=detector, threshold=DEFAULT_THRESHOLDS[detector],
                   min_scene_len=15, min_content_val=15.0, width=128, cache_dir=None),
            **options}
    if not (isinstance(opts['threshold'], (int, float)) and opts['threshold'] > 0):
        raise ValueError(f"shot_detection.threshold must be > 0, got {opts['threshold']!r}")
    if not (isinstance(opts['min_scene_len'], int) and opts['min_scene_len'] >= 1):
        raise ValueError('shot_detection.min_scene_len must be an integer >= 1, got '
                         f"{opts['min_scene_len']!r}")
    if not (isinstance(opts['min_content_val'], (int, float))
            and opts['min_content_val'] >= 0):
        raise ValueError('shot_detection.min_content_val must be >= 0, got '
                         f"{opts['min_content_val']!r}")
    if not (isinstance(opts['width'], int) and opts['width'] >= 16):
        raise ValueError(f"shot_detection.width must be an integer >= 16, got {opts['width']!r}")
    return opts


def make_detector(opts: dict):
    """A fresh PySceneDetect detector for checked options (one per video: they keep state)."""
    from scenedetect.detectors import AdaptiveDetector, ContentDetector
    if opts['detector'] == 'content':
        return ContentDetector(threshold=float(opts['threshold']),
                               min_scene_len=int(opts['min_scene_len']))
    return AdaptiveDetector(adaptive_threshold=float(opts['threshold']),
                            min_scene_len=int(opts['min_scene_len']),
                            min_content_val=float(opts['min_content_val']))


def _cache_file(path: str, opts: dict, decoder: str) -> str:
    st = os.stat(path)
    key = json.dumps([osp.abspath(path), st.st_size, st.st_mtime_ns, opts['detector'],
                      opts['threshold'], opts['min_scene_len'], opts['min_content_val'],
                      opts['width'], decoder])
    return osp.join(opts['cache_dir'] or user_cache_dir('shots'),
                    hashlib.sha1(key.encode()).hexdigest() + '.json')


def detect_cuts(reader, opts: dict, chunk: int = 64) -> List[int]:
    """Indices of the frames that start a new shot (0 is never one) in a video reader
    (:func:`.loading.open_video`)."""
    import cv2
    detector = make_detector(opts)
    cuts, n = [], len(reader)
    for start in range(0, n, chunk):
        batch = reader.get_batch(list(range(start, min(n, start + chunk))))
        for k, rgb in enumerate(batch):
            h, w = rgb.shape[:2]
            size = (opts['width'], max(1, round(h * opts['width'] / w)))
            bgr = cv2.resize(np.ascontiguousarray(rgb[..., ::-1]), size,
                             interpolation=cv2.INTER_AREA)
            cuts += detector.process_frame(start + k, bgr)
    if n:
        cuts += detector.post_process(n - 1) or []  # a cut the detector still holds back
    return sorted(c for c in set(int(c) for c in cuts) if 0 < c < n)


def video_cuts(path: str, reader, opts: dict) -> List[int]:
    """:func:`detect_cuts` of a local video file, read from or written to the cache."""
    cache = _cache_file(path, opts, type(reader).__name__)  # decoders' frames may differ
    if osp.isfile(cache):
        with open(cache) as f:
            return json.load(f)['cuts']
    cuts = detect_cuts(reader, opts)
    with atomic_open(cache, 'w') as f:
        json.dump(dict(video=osp.abspath(path), frames=len(reader), cuts=cuts), f)
    return cuts

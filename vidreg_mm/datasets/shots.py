"""Shot cuts in video files, found once at index time and cached: two frames on either side
of a cut are not a temporal pair.

The detector is PySceneDetect's ``ContentDetector`` (the change of hue, saturation and
lightness between consecutive frames against ``threshold``; a shot is at least
``min_scene_len`` frames). It is fed the frames that the dataset's video decoder gives, so
cut positions are indices of the frames training reads. Results are cached as JSON files
keyed by the video's absolute path, size and modification time, the decoder and the
detector's options, under ``cache_dir`` (default ``~/.cache/vidreg-mm/shots``); a dataset
folder is never written to.
"""
import hashlib
import json
import os
import os.path as osp
from typing import List, Optional

import numpy as np

DEFAULT_CACHE_DIR = osp.join(osp.expanduser('~'), '.cache', 'vidreg-mm', 'shots')


def check_shot_detection(options: Optional[dict]) -> Optional[dict]:
    """The dataset key ``shot_detection``: None (off) or a dict of ``threshold`` (> 0),
    ``min_scene_len`` (>= 1 frames), ``width`` (frames are resized to this width before
    detection, >= 16) and ``cache_dir``."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise ValueError(f'shot_detection must be None or a dict, got {options!r}')
    unknown = set(options) - {'threshold', 'min_scene_len', 'width', 'cache_dir'}
    if unknown:
        raise ValueError(f'shot_detection: unknown keys {sorted(unknown)} (known: threshold, '
                         'min_scene_len, width, cache_dir)')
    opts = {**dict(threshold=27.0, min_scene_len=15, width=128, cache_dir=None), **options}
    if not (isinstance(opts['threshold'], (int, float)) and opts['threshold'] > 0):
        raise ValueError(f"shot_detection.threshold must be > 0, got {opts['threshold']!r}")
    if not (isinstance(opts['min_scene_len'], int) and opts['min_scene_len'] >= 1):
        raise ValueError('shot_detection.min_scene_len must be an integer >= 1, got '
                         f"{opts['min_scene_len']!r}")
    if not (isinstance(opts['width'], int) and opts['width'] >= 16):
        raise ValueError(f"shot_detection.width must be an integer >= 16, got {opts['width']!r}")
    return opts


def _cache_file(path: str, opts: dict, decoder: str) -> str:
    st = os.stat(path)
    key = json.dumps([osp.abspath(path), st.st_size, st.st_mtime_ns, opts['threshold'],
                      opts['min_scene_len'], opts['width'], decoder])
    return osp.join(opts['cache_dir'] or DEFAULT_CACHE_DIR,
                    hashlib.sha1(key.encode()).hexdigest() + '.json')


def detect_cuts(reader, opts: dict, chunk: int = 64) -> List[int]:
    """Indices of the frames that start a new shot (0 is never one) in a video reader
    (:func:`.loading.open_video`)."""
    import cv2
    from scenedetect.detectors import ContentDetector
    detector = ContentDetector(threshold=float(opts['threshold']),
                               min_scene_len=int(opts['min_scene_len']))
    cuts, n = [], len(reader)
    for start in range(0, n, chunk):
        batch = reader.get_batch(list(range(start, min(n, start + chunk))))
        for k, rgb in enumerate(batch):
            h, w = rgb.shape[:2]
            size = (opts['width'], max(1, round(h * opts['width'] / w)))
            bgr = cv2.resize(np.ascontiguousarray(rgb[..., ::-1]), size,
                             interpolation=cv2.INTER_AREA)
            cuts += detector.process_frame(start + k, bgr)
    return sorted(c for c in set(int(c) for c in cuts) if 0 < c < n)


def video_cuts(path: str, reader, opts: dict) -> List[int]:
    """:func:`detect_cuts` of a local video file, read from or written to the cache."""
    cache = _cache_file(path, opts, type(reader).__name__)  # decoders' frames may differ
    if osp.isfile(cache):
        with open(cache) as f:
            return json.load(f)['cuts']
    cuts = detect_cuts(reader, opts)
    os.makedirs(osp.dirname(cache), exist_ok=True)
    tmp = f'{cache}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(video=osp.abspath(path), frames=len(reader), cuts=cuts), f)
    os.replace(tmp, cache)
    return cuts

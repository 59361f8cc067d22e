"""HanCo: ``<image_dir>/%04d/cam%d/%08d.jpg`` with ``meta.json``, split by its is_train."""
import json
import os.path as osp
import re
from typing import Dict, List, Optional

from mmengine import fileio

from .frame_index import ScanReport, frame_clips, index_frames, list_sorted

HANCO_IMAGE_DIRS = ('rgb', 'rgb_merged', 'rgb_homo', 'rgb_color_auto', 'rgb_color_sample')
HANCO_META_KEYS = ('is_train', 'subject_id', 'is_valid', 'object_id', 'has_fit')


def load_handco_meta(data_root: str, backend_args=None) -> Dict[str, list]:
    path = osp.join(data_root, 'meta.json')
    try:
        meta = json.loads(fileio.get_text(path, backend_args=backend_args))
    except (OSError, ValueError) as e:
        raise ValueError(f'cannot read HanCo meta file {path}: {e}') from e
    if not isinstance(meta, dict):
        raise ValueError(f'{path} must hold a JSON object, got {type(meta).__name__}')
    missing = [k for k in HANCO_META_KEYS if k not in meta]
    if missing:
        raise ValueError(f'{path} lacks the keys {missing} (expected {list(HANCO_META_KEYS)})')
    for k in HANCO_META_KEYS:
        if not isinstance(meta[k], list):
            raise ValueError(f'{path}: {k!r} must be a list with one entry per sequence, got '
                             f'{type(meta[k]).__name__}')
    lengths = {k: len(meta[k]) for k in HANCO_META_KEYS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f'{path}: the keys list different numbers of sequences: {lengths}')
    for s, flags in enumerate(meta['is_train']):
        if not isinstance(flags, list):
            raise ValueError(f'{path}: is_train[{s}] must be a list of true/false (one per '
                             f'frame), got {flags!r}')
        bad = [v for v in flags if not (isinstance(v, bool) or v in (0, 1))
               or isinstance(v, float)]
        if bad:
            raise ValueError(f'{path}: is_train[{s}] holds {bad[0]!r} '
                             f'({type(bad[0]).__name__}); is_train values must be JSON '
                             'true/false (or 0/1)')
    return meta


def _split_of(meta: dict, s: int, meta_path: str) -> str:
    """'train' or 'val': the split of sequence ``s`` by meta.json's is_train (one value for
    all its frames, or an error naming the file)."""
    is_train = set(bool(v) for v in meta['is_train'][s])
    if not is_train:
        raise ValueError(f'{meta_path}: is_train[{s}] is empty: sequence {s} has no frames')
    if len(is_train) != 1:
        raise ValueError(f'{meta_path}: sequence {s} mixes train and val frames in is_train; '
                         'a sequence must belong to one split')
    return 'train' if is_train.pop() else 'val'


def scan_handco(data_root: str, split: str, image_dir: str = 'rgb', cameras=None,
                backend_args=None, report: Optional[ScanReport] = None,
                on_missing: str = 'error') -> List[dict]:
    """Clips of HanCo: ``<image_dir>/%04d/cam%d/%08d.jpg``, split by meta.json's is_train.

    Sequences of the split that meta.json lists but that have no folder, and camera folders
    without frames (or a requested camera that a sequence lacks) are an error naming them,
    unless ``on_missing='skip'`` (they go to ``report.absent``, which the dataset logs).
    Frames missing inside a camera folder are gaps (``report.missing``)."""
    if on_missing not in ('error', 'skip'):
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    absent: List[str] = []
    if image_dir not in HANCO_IMAGE_DIRS:
        raise ValueError(f'image_dir={image_dir!r} is not a HanCo image folder; choose one '
                         f'of {HANCO_IMAGE_DIRS}')
    meta = load_handco_meta(data_root, backend_args)
    meta_path = osp.join(data_root, 'meta.json')
    img_root = osp.join(data_root, image_dir)
    if not fileio.isdir(img_root, backend_args=backend_args):
        raise FileNotFoundError(f'HanCo image folder {img_root} does not exist '
                                f'(dataset key image_dir={image_dir!r})')
    seq_dirs = list_sorted(img_root, backend_args, dirs=True)
    num_seq = len(meta['is_train'])
    extra = [d for d in seq_dirs if not (d.isdigit() and int(d) < num_seq)]
    if extra:
        raise ValueError(f'{img_root} holds sequence folders {extra[:5]} that {meta_path} '
                         f'(with {num_seq} sequences) does not describe')
    absent += [f'sequence {s:04d}: no folder' for s in range(num_seq)
               if f'{s:04d}' not in seq_dirs
               and split in ('all', _split_of(meta, s, meta_path))]
    clips = []
    for seq_name in seq_dirs:
        s = int(seq_name)
        seq_split = _split_of(meta, s, meta_path)
        if split != 'all' and seq_split != split:
            continue
        n_meta = len(meta['is_train'][s])
        seq_dir = osp.join(img_root, seq_name)
        cam_dirs = [d for d in list_sorted(seq_dir, backend_args, dirs=True)
                    if re.fullmatch(r'cam\d+', d)]
        if cameras is not None:
            absent += [f'{seq_name}/cam{c}: no folder' for c in cameras
                       if f'cam{c}' not in cam_dirs]
            cam_dirs = [d for d in cam_dirs if int(d[3:]) in cameras]
        elif not cam_dirs:
            absent.append(f'sequence {seq_name}: no camera folder')
        for cam_name in cam_dirs:
            cam_dir = osp.join(seq_dir, cam_name)
            label = f'{seq_name}/{cam_name}'
            frames = index_frames(cam_dir, list_sorted(cam_dir, backend_args, dirs=False), label,
                                  report)
            if not frames:
                absent.append(f'{label}: no frames (meta.json lists {n_meta})')
                continue
            beyond = [(i, p) for i, p in frames if i >= n_meta]
            if beyond:
                raise ValueError(f'{beyond[0][1]} is frame {beyond[0][0]}, but {meta_path} '
                                 f'lists {n_meta} frames for sequence {s}')
            if report is not None and len(frames) < n_meta:
                have = {i for i, _ in frames}
                report.missing += [f'{label}: frame {i}' for i in range(n_meta)
                                   if i not in have]
            clips += frame_clips(dict(clip_id=label, sequence=seq_name,
                                      camera=int(cam_name[3:]), split=seq_split),
                                 frames, label, report)
    if absent and on_missing == 'error':
        raise ValueError(
            f'{img_root}: {len(absent)} sequence(s) or camera(s) of split {split!r} that '
            f'{meta_path} lists hold no frames: {absent[:8]}' + (' ...' if len(absent) > 8
                                                                  else '')
            + ". To train on what is there, set the dataset key on_missing='skip' (they are "
            'then counted in a warning)')
    if report is not None:
        report.absent += absent
    return clips

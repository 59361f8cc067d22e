"""Find the clips of a dataset root: HanCo, a folder of video files, or a folder of frame folders.

A clip is the unit pairs are drawn from: the frames of one sequence seen by one camera. Each
scanner returns a list of plain dicts (MMEngine data infos):

    clip_id     'seq/cam' string, unique in the dataset
    sequence    sequence name (HanCo: '%04d'; otherwise the video or folder name)
    camera      camera index (0 for video files and frame folders)
    clip_length frames in the clip (on disk; a sample takes T of them)
    frames      frame file paths, in temporal order (image sources)
    video       video file path (video sources)

Every path goes through MMEngine's file backends (``backend_args``), so a dataset can live on
other storage than the local disk.
"""
import json
import os.path as osp
import re
from typing import Dict, List, Optional

from mmengine import fileio

from .loading import open_video

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.webm')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
HANCO_IMAGE_DIRS = ('rgb', 'rgb_merged', 'rgb_homo', 'rgb_color_auto', 'rgb_color_sample')
HANCO_META_KEYS = ('is_train', 'subject_id', 'is_valid', 'object_id', 'has_fit')
SPLITS = ('train', 'val', 'all')
SOURCES = ('auto', 'handco', 'videos', 'frames')


def natural_key(name: str):
    """Sort key that orders 'frame2' before 'frame10'."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r'(\d+)', name)]


def _ls(path, backend_args, dirs: bool) -> List[str]:
    entries = fileio.list_dir_or_file(path, list_dir=dirs, list_file=not dirs,
                                      recursive=False, backend_args=backend_args)
    return sorted(entries, key=natural_key)


def _lower_suffix(names, suffixes):
    return [n for n in names if osp.splitext(n)[1].lower() in suffixes]


def detect_source(data_root: str, backend_args: Optional[dict] = None) -> str:
    """'handco' when ``meta.json`` is at the root, else 'videos' or 'frames' by content."""
    if not fileio.exists(data_root, backend_args=backend_args):
        raise FileNotFoundError(f'data_root {data_root!r} does not exist')
    if fileio.isfile(osp.join(data_root, 'meta.json'), backend_args=backend_args):
        return 'handco'
    probe = [data_root] + [osp.join(data_root, s) for s in ('train', 'val')
                           if fileio.isdir(osp.join(data_root, s), backend_args=backend_args)]
    for folder in probe[::-1]:
        if _lower_suffix(_ls(folder, backend_args, dirs=False), VIDEO_EXTENSIONS):
            return 'videos'
        if _ls(folder, backend_args, dirs=True):
            return 'frames'
    raise ValueError(f'cannot tell the layout of data_root {data_root!r}: no meta.json '
                     f'(HanCo), no video files {VIDEO_EXTENSIONS} and no frame folders, at '
                     f'the root or under train/ or val/. Set the dataset key `source`.')


# --- HanCo ---------------------------------------------------------------------------------
def load_handco_meta(data_root: str, backend_args=None) -> Dict[str, list]:
    path = osp.join(data_root, 'meta.json')
    try:
        meta = json.loads(fileio.get_text(path, backend_args=backend_args))
    except (OSError, ValueError) as e:
        raise ValueError(f'cannot read HanCo meta file {path}: {e}') from e
    missing = [k for k in HANCO_META_KEYS if k not in meta]
    if missing:
        raise ValueError(f'{path} lacks the keys {missing} (expected {list(HANCO_META_KEYS)})')
    lengths = {k: len(meta[k]) for k in HANCO_META_KEYS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f'{path}: the keys list different numbers of sequences: {lengths}')
    return meta


def scan_handco(data_root: str, split: str, image_dir: str = 'rgb', cameras=None,
                backend_args=None) -> List[dict]:
    """Clips of HanCo: ``<image_dir>/%04d/cam%d/%08d.jpg``, split by meta.json's is_train."""
    if image_dir not in HANCO_IMAGE_DIRS:
        raise ValueError(f'image_dir={image_dir!r} is not a HanCo image folder; choose one '
                         f'of {HANCO_IMAGE_DIRS}')
    meta = load_handco_meta(data_root, backend_args)
    meta_path = osp.join(data_root, 'meta.json')
    img_root = osp.join(data_root, image_dir)
    if not fileio.isdir(img_root, backend_args=backend_args):
        raise FileNotFoundError(f'HanCo image folder {img_root} does not exist '
                                f'(dataset key image_dir={image_dir!r})')
    seq_dirs = _ls(img_root, backend_args, dirs=True)
    num_seq = len(meta['is_train'])
    extra = [d for d in seq_dirs if not (d.isdigit() and int(d) < num_seq)]
    if extra:
        raise ValueError(f'{img_root} holds sequence folders {extra[:5]} that {meta_path} '
                         f'(with {num_seq} sequences) does not describe')
    clips = []
    for seq_name in seq_dirs:
        s = int(seq_name)
        is_train = set(bool(v) for v in meta['is_train'][s])
        if len(is_train) != 1:
            raise ValueError(f'{meta_path}: sequence {s} mixes train and val frames in '
                             f'is_train; a sequence must belong to one split')
        seq_split = 'train' if is_train.pop() else 'val'
        if split != 'all' and seq_split != split:
            continue
        n_meta = len(meta['is_train'][s])
        seq_dir = osp.join(img_root, seq_name)
        cam_dirs = [d for d in _ls(seq_dir, backend_args, dirs=True) if re.fullmatch(r'cam\d+', d)]
        if cameras is not None:
            cam_dirs = [d for d in cam_dirs if int(d[3:]) in cameras]
        for cam_name in cam_dirs:
            cam_dir = osp.join(seq_dir, cam_name)
            names = _lower_suffix(_ls(cam_dir, backend_args, dirs=False), IMAGE_EXTENSIONS)
            if len(names) != n_meta:
                raise ValueError(f'{cam_dir} holds {len(names)} frames but {meta_path} lists '
                                 f'{n_meta} for sequence {s}')
            clips.append(dict(clip_id=f'{seq_name}/{cam_name}', sequence=seq_name,
                              camera=int(cam_name[3:]), split=seq_split, clip_length=n_meta,
                              frames=[osp.join(cam_dir, n) for n in names]))
    return clips


# --- video files and frame folders ---------------------------------------------------------
def _split_members(data_root, split, split_file, backend_args):
    """Yield (folder, name filter or None, split) for the requested split."""
    subdirs = [s for s in ('train', 'val')
               if fileio.isdir(osp.join(data_root, s), backend_args=backend_args)]
    if split_file is not None:
        path = split_file if osp.isabs(split_file) else osp.join(data_root, split_file)
        try:
            table = json.loads(fileio.get_text(path, backend_args=backend_args))
        except (OSError, ValueError) as e:
            raise ValueError(f'cannot read split_file {path}: {e}') from e
        if not isinstance(table, dict) or not set(table) <= {'train', 'val'}:
            raise ValueError(f'split_file {path} must be a JSON object '
                             '{"train": [clip names], "val": [clip names]}')
        wanted = ('train', 'val') if split == 'all' else (split,)
        for s in wanted:
            yield data_root, set(table.get(s, [])), s
    elif subdirs:
        wanted = subdirs if split == 'all' else [split]
        for s in wanted:
            folder = osp.join(data_root, s)
            if not fileio.isdir(folder, backend_args=backend_args):
                raise FileNotFoundError(f'split {s!r} requested but {folder} does not exist')
            yield folder, None, s
    elif split == 'all':
        yield data_root, None, 'all'
    else:
        raise ValueError(f'data_root {data_root!r} has no train/ or val/ subfolder and no '
                         f'split_file is set, so split={split!r} is undefined. Add the '
                         'subfolders, set split_file, or use split="all".')


def scan_videos(data_root: str, split: str, split_file=None, backend_args=None,
                on_unreadable=None) -> List[dict]:
    """Clips of a folder of video files: one clip per file, camera 0."""
    clips = []
    for folder, names, s in _split_members(data_root, split, split_file, backend_args):
        for name in _lower_suffix(_ls(folder, backend_args, dirs=False), VIDEO_EXTENSIONS):
            stem = osp.splitext(name)[0]
            if names is not None and stem not in names and name not in names:
                continue
            path = osp.join(folder, name)
            try:
                n = len(open_video(path, backend_args))
            except Exception as e:  # noqa: BLE001  decord raises its own error types
                if on_unreadable is None:
                    raise
                on_unreadable(path, e)
                continue
            clips.append(dict(clip_id=f'{stem}/cam0', sequence=stem, camera=0, split=s,
                              clip_length=n, video=path))
    return clips


def scan_frame_folders(data_root: str, split: str, split_file=None,
                       backend_args=None) -> List[dict]:
    """Clips of a folder of frame folders: one clip per folder, frames in natural order."""
    clips = []
    for folder, names, s in _split_members(data_root, split, split_file, backend_args):
        for name in _ls(folder, backend_args, dirs=True):
            if names is not None and name not in names:
                continue
            clip_dir = osp.join(folder, name)
            frames = _lower_suffix(_ls(clip_dir, backend_args, dirs=False), IMAGE_EXTENSIONS)
            clips.append(dict(clip_id=f'{name}/cam0', sequence=name, camera=0, split=s,
                              clip_length=len(frames),
                              frames=[osp.join(clip_dir, f) for f in frames]))
    return clips

"""Find the clips of a dataset root: HanCo, a folder of video files, or a folder of frame folders.

A clip is the unit pairs are drawn from: the frames of one sequence seen by one camera. Each
scanner returns a list of plain dicts (MMEngine data infos):

    clip_id     'seq/cam' string, unique in the dataset
    sequence    sequence name (HanCo: '%04d'; otherwise the video or folder name)
    camera      camera index (0 for video files and frame folders)
    clip_length frames in the clip (on disk; a sample takes T of them)
    frames      frame file paths, in temporal order (image sources)
    frame_ids   the frames' ids, read from their file names (image sources)
    video       video file path (video sources)

Temporal order comes from frame ids, never from listing order: the id of an image file is the
last number in its name (``00000012.jpg``, ``frame_12.png`` and ``cam0_f0012.tif`` are frame
12). A clip's frame step is the smallest difference between consecutive ids (1, or 2 for
folders that keep every other frame); a larger difference is a gap, and the clip is split
there into clips that no pair straddles (``clip_id`` gets ``@<first id>``). Two files with one
id, or an image file without a number in its name, are errors naming the clip; files that
are not images Pillow reads are reported (``ScanReport``), never silently dropped.

Every path goes through MMEngine's file backends (``backend_args``), so a dataset can live on
other storage than the local disk.
"""
import json
import os.path as osp
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mmengine import fileio

from .loading import open_video
from .shots import video_cuts

#: containers that FFmpeg (PyAV, decord) reads
VIDEO_EXTENSIONS = ('.3gp', '.avi', '.flv', '.m2ts', '.m4v', '.mkv', '.mov', '.mp4', '.mpeg',
                    '.mpg', '.mts', '.ogv', '.ts', '.webm', '.wmv')

def _pillow_extensions() -> Tuple[str, ...]:
    """Every file extension that Pillow can open."""
    from PIL import Image
    Image.init()
    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                        if fmt in Image.OPEN))


IMAGE_EXTENSIONS = _pillow_extensions()
HANCO_IMAGE_DIRS = ('rgb', 'rgb_merged', 'rgb_homo', 'rgb_color_auto', 'rgb_color_sample')
HANCO_META_KEYS = ('is_train', 'subject_id', 'is_valid', 'object_id', 'has_fit')
SPLITS = ('train', 'val', 'all')
SOURCES = ('auto', 'handco', 'videos', 'frames')


@dataclass
class ScanReport:
    """What a scan set aside: gaps it split clips at, and files in clip folders that are not
    frames. The dataset logs one warning per kind with the count and examples."""
    gaps: List[str] = field(default_factory=list)
    not_frames: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)  # HanCo frames meta.json lists
    cuts: List[str] = field(default_factory=list)  # shot cuts videos were split at


def frame_id(name: str) -> Optional[int]:
    """The frame id in a file name: the last number in its stem; None when it has none."""
    numbers = re.findall(r'\d+', osp.splitext(name)[0])
    return int(numbers[-1]) if numbers else None


def index_frames(folder: str, names: List[str], label: str,
                 report: Optional[ScanReport] = None) -> List[Tuple[int, str]]:
    """``(id, path)`` of the image files among ``names`` (the files of a clip folder), in id
    order; other files go to ``report.not_frames``. Raises when a file has no id or two files
    share one."""
    frames, by_id = [], {}
    for name in names:
        if osp.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
            if report is not None:
                report.not_frames.append(osp.join(folder, name))
            continue
        i = frame_id(name)
        if i is None:
            raise ValueError(f'clip {label}: {osp.join(folder, name)} has no frame number in '
                             'its name; temporal order is read from the numbers in frame '
                             'names, not from listing order')
        if i in by_id:
            raise ValueError(f'clip {label} is ambiguous: {by_id[i]} and {name} in {folder} '
                             f'are both frame {i}; keep one file per frame')
        by_id[i] = name
        frames.append((i, osp.join(folder, name)))
    return sorted(frames)


def split_at_gaps(frames: List[Tuple[int, str]], label: str,
                  report: Optional[ScanReport] = None) -> List[List[Tuple[int, str]]]:
    """Runs of ``frames`` (id order) whose ids follow at the clip's frame step (its smallest
    id difference); each larger difference is a gap, recorded in ``report.gaps``."""
    if len(frames) < 2:
        return [frames] if frames else []
    ids = [i for i, _ in frames]
    step = min(b - a for a, b in zip(ids, ids[1:]))
    runs = [[frames[0]]]
    for prev, cur in zip(frames, frames[1:]):
        if cur[0] - prev[0] != step:
            runs.append([])
            if report is not None:
                report.gaps.append(f'{label}: frame {prev[0]} -> {cur[0]} (step {step})')
        runs[-1].append(cur)
    return runs


def frame_clips(base: dict, frames: List[Tuple[int, str]], label: str,
                report: Optional[ScanReport] = None) -> List[dict]:
    """The clip dicts of one clip folder: ``base`` (clip_id, sequence, camera, split) with its
    frames, one clip per run between gaps."""
    runs = split_at_gaps(frames, label, report)
    clips = []
    for run in runs:
        clip = dict(base, clip_length=len(run), frames=[p for _, p in run],
                    frame_ids=[i for i, _ in run])
        if len(runs) > 1:
            clip['clip_id'] = f"{base['clip_id']}@{run[0][0]}"
        clips.append(clip)
    return clips


def natural_key(name: str):
    """Sort key that orders 'frame2' before 'frame10'."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r'(\d+)', name)]


def _ls(path, backend_args, dirs: bool) -> List[str]:
    entries = fileio.list_dir_or_file(path, list_dir=dirs, list_file=not dirs,
                                      recursive=False, backend_args=backend_args)
    return sorted(entries, key=natural_key)


def _lower_suffix(names, suffixes):
    return [n for n in names if osp.splitext(n)[1].lower() in suffixes]


def _local(path: str, backend_args) -> str:
    """``path`` when it is a local file; shot detection and its cache need one."""
    if not isinstance(fileio.get_file_backend(path, backend_args=backend_args),
                      fileio.LocalBackend):
        raise ValueError(f'shot_detection needs local video files; {path} is not one (set '
                         'shot_detection=None for videos on other storage)')
    return path


def _ls_recursive(path, backend_args) -> List[str]:
    """Every file under ``path``, as paths relative to it, in natural order."""
    entries = fileio.list_dir_or_file(path, list_dir=False, list_file=True, recursive=True,
                                      backend_args=backend_args)
    return sorted(entries, key=natural_key)


def describe_contents(folder: str, backend_args=None, limit: int = 5) -> str:
    """What a folder holds, for errors: its subfolders and its files by extension."""
    dirs = _ls(folder, backend_args, dirs=True)
    files = _ls_recursive(folder, backend_args)
    kinds = Counter(osp.splitext(f)[1].lower() or '(no extension)' for f in files)
    return (f'{len(dirs)} folder(s) {dirs[:limit]}, {len(files)} file(s) below it '
            f'{dict(kinds.most_common(limit))}')


EXPECTED_LAYOUTS = ('expected one of: meta.json and rgb/<%04d>/cam<N>/<%08d>.jpg (HanCo); '
                    'video files (any depth, e.g. train/<class>/<name>.avi); or one folder of '
                    'numbered image files per clip (<clip>/<frame id>.png), under train/ and '
                    'val/ or with a split_file')


def detect_source(data_root: str, backend_args: Optional[dict] = None) -> str:
    """'handco' when ``meta.json`` is at the root, 'videos' when video files are found at any
    depth (at the root or under train/ and val/), else 'frames' when there are clip folders;
    an error that says what was found and what was expected otherwise."""
    if not fileio.exists(data_root, backend_args=backend_args):
        raise FileNotFoundError(f'data_root {data_root!r} does not exist')
    if fileio.isfile(osp.join(data_root, 'meta.json'), backend_args=backend_args):
        return 'handco'
    for image_dir in HANCO_IMAGE_DIRS:
        folder = osp.join(data_root, image_dir)
        if fileio.isdir(folder, backend_args=backend_args) and any(
                re.fullmatch(r'\d{4}', d) for d in _ls(folder, backend_args, dirs=True)):
            raise ValueError(f'data_root {data_root!r} looks like HanCo ({folder} holds '
                             'sequence folders) but has no meta.json, which gives the '
                             'train/val split: copy HanCo\'s meta.json to the root, or set '
                             "source='frames' with a split_file")
    if _lower_suffix(_ls_recursive(data_root, backend_args), VIDEO_EXTENSIONS):
        return 'videos'
    probe = [data_root] + [osp.join(data_root, s) for s in ('train', 'val')
                           if fileio.isdir(osp.join(data_root, s), backend_args=backend_args)]
    if any(_ls(folder, backend_args, dirs=True) for folder in probe[1:] or probe):
        return 'frames'
    raise ValueError(f'cannot tell the layout of data_root {data_root!r}: it holds '
                     f'{describe_contents(data_root, backend_args)}; {EXPECTED_LAYOUTS}. '
                     'Set the dataset key `source` to say which.')


# --- HanCo ---------------------------------------------------------------------------------
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


def scan_handco(data_root: str, split: str, image_dir: str = 'rgb', cameras=None,
                backend_args=None, report: Optional[ScanReport] = None) -> List[dict]:
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
        if not is_train:
            raise ValueError(f'{meta_path}: is_train[{s}] is empty: sequence {s} has no '
                             'frames')
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
            label = f'{seq_name}/{cam_name}'
            frames = index_frames(cam_dir, _ls(cam_dir, backend_args, dirs=False), label,
                                  report)
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
    return clips


# --- video files and frame folders ---------------------------------------------------------
class ListedClips(set):
    """The clip names a split file lists for one split; ``check`` raises for those that
    matched no clip."""

    def __init__(self, path: str, split: str, names: List[str]):
        super().__init__(names)
        self.path, self.split, self.found = path, split, set()

    def check(self, folder: str):
        missing = sorted(self - self.found)
        if missing:
            raise ValueError(f'split_file {self.path} lists {len(missing)} {self.split} '
                             f'clip(s) that are not in {folder}: {missing[:5]}')


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
        for s, names in table.items():
            if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                bad = names if not isinstance(names, list) else next(
                    n for n in names if not isinstance(n, str))
                raise ValueError(f'split_file {path}: {s!r} must be a list of clip names '
                                 f'(strings); it holds {bad!r}')
        both = sorted(set(table.get('train', [])) & set(table.get('val', [])))
        if both:
            raise ValueError(f'split_file {path} lists clips in both train and val: '
                             f'{both[:5]}')
        wanted = ('train', 'val') if split == 'all' else (split,)
        for s in wanted:
            yield data_root, ListedClips(path, s, table.get(s, [])), s
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
                on_unreadable=None, shot_detection: Optional[dict] = None,
                report: Optional[ScanReport] = None,
                video_decoder: str = 'pyav') -> List[dict]:
    """Clips of a folder of video files, found at any depth under each split folder (class
    folders included): one clip per file, camera 0, named by its path relative to the split
    folder without the extension (``ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01``). Two files
    that differ only in their extension are an error; a split folder without videos is an
    error that says what it holds.

    With ``shot_detection`` (options of :func:`.shots.check_shot_detection`) each video is
    split at its shot cuts into clips that no pair straddles (``<clip_id>@<first frame>``,
    with ``start``, the first frame's index in the video), cuts counted in ``report.cuts``."""
    clips = []
    for folder, names, s in _split_members(data_root, split, split_file, backend_args):
        files = _lower_suffix(_ls_recursive(folder, backend_args), VIDEO_EXTENSIONS)
        if not files:
            raise ValueError(f'no video files {VIDEO_EXTENSIONS} under {folder} (split '
                             f'{s!r}): it holds {describe_contents(folder, backend_args)}')
        seen = {}
        for rel in files:
            stem = osp.splitext(rel)[0].replace(osp.sep, '/')
            if stem in seen:
                raise ValueError(f'clip {stem} is ambiguous: {seen[stem]} and {rel} under '
                                 f'{folder}; keep one file per clip')
            seen[stem] = rel
            if names is not None:
                if stem not in names and rel not in names:
                    continue
                names.found.add(stem if stem in names else rel)
            path = osp.join(folder, rel)
            try:
                reader = open_video(path, backend_args, video_decoder)
                n = len(reader)
                cuts = ([] if shot_detection is None else
                        video_cuts(_local(path, backend_args), reader, shot_detection))
            except Exception as e:  # noqa: BLE001  decoders raise their own error types
                if on_unreadable is None:
                    raise
                on_unreadable(path, e)
                continue
            bounds = [0] + list(cuts) + [n]
            for start, end in zip(bounds, bounds[1:]):
                clips.append(dict(clip_id=f'{stem}/cam0' + (f'@{start}' if cuts else ''),
                                  sequence=stem, camera=0, split=s, clip_length=end - start,
                                  video=path, start=start, video_decoder=video_decoder))
            if report is not None:
                report.cuts += [f'{stem}: frame {c}' for c in cuts]
        if names is not None:
            names.check(folder)
    return clips


def scan_frame_folders(data_root: str, split: str, split_file=None, backend_args=None,
                       report: Optional[ScanReport] = None) -> List[dict]:
    """Clips of a folder of frame folders: one clip per folder (split at gaps in its frame
    ids), frames in id order."""
    clips = []
    for folder, names, s in _split_members(data_root, split, split_file, backend_args):
        for name in _ls(folder, backend_args, dirs=True):
            if names is not None:
                if name not in names:
                    continue
                names.found.add(name)
            clip_dir = osp.join(folder, name)
            files = _ls(clip_dir, backend_args, dirs=False)
            if not _lower_suffix(files, IMAGE_EXTENSIONS):
                inner = _ls(clip_dir, backend_args, dirs=True)
                if inner:
                    raise ValueError(
                        f'clip folder {clip_dir} holds no image files but the folders '
                        f'{inner[:5]}: frames one level deeper than expected? The layout is '
                        '<split>/<clip>/<frame id>.<ext>; point data_root (or the split '
                        'folders) one level lower, or list the clips in a split_file')
            frames = index_frames(clip_dir, files, name, report)
            clips += frame_clips(dict(clip_id=f'{name}/cam0', sequence=name, camera=0,
                                      split=s), frames, name, report)
        if names is not None:
            names.check(folder)
    return clips

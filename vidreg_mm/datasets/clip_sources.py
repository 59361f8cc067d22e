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
from typing import List, Optional

from mmengine import fileio

from .frame_index import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ScanReport, describe_contents,
                          frame_clips, index_frames, list_files_recursive, list_sorted, with_suffix)
from .handco import HANCO_IMAGE_DIRS
from .loading import open_video
from .shots import video_cuts

SPLITS = ('train', 'val', 'all')
SOURCES = ('auto', 'handco', 'videos', 'frames')


def _local(path: str, backend_args) -> str:
    """``path`` when it is a local file; shot detection and its cache need one."""
    if not isinstance(fileio.get_file_backend(path, backend_args=backend_args),
                      fileio.LocalBackend):
        raise ValueError(f'shot_detection needs local video files; {path} is not one (set '
                         'shot_detection=None for videos on other storage)')
    return path


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
                re.fullmatch(r'\d{4}', d) for d in list_sorted(folder, backend_args, dirs=True)):
            raise ValueError(f'data_root {data_root!r} looks like HanCo ({folder} holds '
                             'sequence folders) but has no meta.json, which gives the '
                             'train/val split: copy HanCo\'s meta.json to the root, or set '
                             "source='frames' with a split_file")
    if with_suffix(list_files_recursive(data_root, backend_args), VIDEO_EXTENSIONS):
        return 'videos'
    probe = [data_root] + [osp.join(data_root, s) for s in ('train', 'val')
                           if fileio.isdir(osp.join(data_root, s), backend_args=backend_args)]
    if any(list_sorted(folder, backend_args, dirs=True) for folder in probe[1:] or probe):
        return 'frames'
    raise ValueError(f'cannot tell the layout of data_root {data_root!r}: it holds '
                     f'{describe_contents(data_root, backend_args)}; {EXPECTED_LAYOUTS}. '
                     'Set the dataset key `source` to say which.')


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
        files = with_suffix(list_files_recursive(folder, backend_args, report),
                            VIDEO_EXTENSIONS)
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
        for name in list_sorted(folder, backend_args, dirs=True):
            if names is not None:
                if name not in names:
                    continue
                names.found.add(name)
            clip_dir = osp.join(folder, name)
            files = list_sorted(clip_dir, backend_args, dirs=False)
            if not with_suffix(files, IMAGE_EXTENSIONS):
                inner = list_sorted(clip_dir, backend_args, dirs=True)
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

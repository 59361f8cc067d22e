"""Frames of a folder in temporal order: frame ids from file names, clips split at gaps, and
the folder listings every source scanner shares (through MMEngine's file backends)."""
import os
import os.path as osp
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from mmengine import fileio

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


@dataclass
class ScanReport:
    """What a scan set aside: gaps it split clips at, and files in clip folders that are not
    frames. The dataset logs one warning per kind with the count and examples."""
    gaps: List[str] = field(default_factory=list)
    not_frames: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)  # HanCo frames meta.json lists
    absent: List[str] = field(default_factory=list)  # HanCo sequences / cameras without frames
    cuts: List[str] = field(default_factory=list)  # shot cuts videos were split at
    loops: List[str] = field(default_factory=list)  # symbolic links back to a folder above


#: a stem that ends in a decimal number (``0.04``, ``clip_1.25``), not part of a word
DECIMAL_NAME = re.compile(r'(?<![A-Za-z0-9.])\d+\.\d+$')


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
        decimal = DECIMAL_NAME.search(osp.splitext(name)[0])
        if decimal:
            raise ValueError(
                f'clip {label}: {osp.join(folder, name)} is named by the decimal number '
                f'{decimal.group(0)} (a timestamp in seconds?), which is not a frame id: '
                'frame ids are integers, and 0.04 and 0.4 would both read as frame 4. Rename '
                "the clip's frames to integers in time order (00000000.png, 00000001.png, "
                '...; e.g. round(seconds x frame rate))')
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


def list_sorted(path, backend_args, dirs: bool) -> List[str]:
    entries = fileio.list_dir_or_file(path, list_dir=dirs, list_file=not dirs,
                                      recursive=False, backend_args=backend_args)
    return sorted(entries, key=natural_key)


def with_suffix(names, suffixes):
    return [n for n in names if osp.splitext(n)[1].lower() in suffixes]


def list_files_recursive(path, backend_args, report: Optional[ScanReport] = None) -> List[str]:
    """Every file under ``path``, as paths relative to it, in natural order. Local folders
    are walked following symbolic links, except a link back to a folder above it (a loop,
    which MMEngine's listing follows until the OS refuses with ELOOP): such a link is
    skipped and goes to ``report.loops``, which the dataset logs."""
    if not isinstance(fileio.get_file_backend(path, backend_args=backend_args),
                      fileio.LocalBackend):
        entries = fileio.list_dir_or_file(path, list_dir=False, list_file=True,
                                          recursive=True, backend_args=backend_args)
        return sorted(entries, key=natural_key)
    files: List[str] = []
    loops = report.loops if report is not None else []
    _walk_local(path, '', (osp.realpath(path), ), files, loops)
    return sorted(files, key=natural_key)


def _walk_local(root: str, rel: str, above: Tuple[str, ...], files: List[str],
                loops: List[str]) -> None:
    with os.scandir(osp.join(root, rel)) as entries:
        for entry in entries:
            name = osp.join(rel, entry.name) if rel else entry.name
            if entry.is_file():
                files.append(name)
            elif entry.is_dir():
                real = osp.realpath(entry.path)
                if real in above:
                    loops.append(f'{entry.path} -> {real}')
                    continue
                _walk_local(root, name, above + (real, ), files, loops)


def describe_contents(folder: str, backend_args=None, limit: int = 5) -> str:
    """What a folder holds, for errors: its subfolders and its files by extension."""
    dirs = list_sorted(folder, backend_args, dirs=True)
    files = list_files_recursive(folder, backend_args)
    kinds = Counter(osp.splitext(f)[1].lower() or '(no extension)' for f in files)
    return (f'{len(dirs)} folder(s) {dirs[:limit]}, {len(files)} file(s) below it '
            f'{dict(kinds.most_common(limit))}')

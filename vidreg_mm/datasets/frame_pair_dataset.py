"""Pairs of nearby frames of one clip (temporal runs) or single frames (baseline runs)."""
import copy
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmagic.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from ..registry import mmagic_scope
from .clip_sampling import SampleClipFrames, anchors_of, min_clip_length
from .clip_sources import SOURCES, SPLITS, detect_source, scan_frame_folders, scan_videos
from .frame_index import ScanReport
from .handco import scan_handco
from .loading import check_video_decoder
from .shots import check_shot_detection
from .synthetic_hands import ensure_synthetic_hands
from .transforms import check_frame_size


@DATASETS.register_module()
class VideoFramePairDataset(BaseDataset):
    """Frames of video clips, drawn as pairs ``(i, i + d)`` of one clip, clips of T frames,
    or single frames.

    An index of *anchor* frames (frames that have at least ``num_frames - 1`` partners in
    ``offset_range``) with their clip: item ``k`` is anchor ``k``'s clip and frame. The first
    transform of the pipeline, :class:`~.SampleClipFrames` (built from the dataset's
    ``num_frames``, ``offset_range``, ``offset_distribution`` and ``pair_mode``), draws its
    partners; in ``test_mode`` the draw is a fixed function of the index. In single mode
    (``pair_mode=False``, the baseline) the same frames are drawn and one of them kept, so
    both modes see the same distribution of frames.

    Sources, detected from ``data_root`` unless ``source`` says:
      - ``handco``: ``<image_dir>/%04d/cam%d/%08d.jpg`` with ``meta.json`` (split by is_train);
      - ``videos``: video files (mp4, avi, mov, mkv, webm, ...), decoded with PyAV (or
        decord, ``video_decoder``);
      - ``frames``: one folder of image files per clip.
    Image frames are ordered by the frame id in their names and clips are split at gaps in
    the ids (see :mod:`.clip_sources`); the gaps and the files that are not frames are
    counted (``num_gaps``, ``num_not_frames``) and logged.
    For videos and frames the split comes from ``train/`` and ``val/`` subfolders or
    ``split_file`` (JSON ``{"train": [...], "val": [...]}`` of clip names).

    Args:
        data_root (str): dataset root.
        pipeline (list): transforms; the first is usually ``LoadClipFrames``.
        frame_size (int | tuple[int, int], optional): the size (h, w; an integer: square)
            that the pipeline's ``ResizeFrames`` resizes frames to, given to it in each
            sample (``frame_size``); None: the frames' own size. The one key of a recipe's
            resolution. Default: None.
        split (str): 'train', 'val' or 'all'. Default: 'train'.
        source (str): 'auto', 'handco', 'videos' or 'frames'. Default: 'auto'.
        pair_mode (bool): clips of ``num_frames`` frames (True) or single frames (False).
            Default: True.
        num_frames (int): frames per sample in pair mode, T >= 2 (2: pairs). Default: 2.
        offset_range (tuple[int, int]): signed (d_min, d_max). Default: (-4, 4).
        offset_distribution (str): 'uniform', or 'triangular' (weight max|d| + 1 - |d|,
            favouring near frames). Default: 'uniform'.
        image_dir (str): HanCo image folder ('rgb', 'rgb_merged', ...). Default: 'rgb'.
        cameras (list[int], optional): HanCo cameras to use (default all).
        split_file (str, optional): split file for video and frame sources.
        on_broken (str): for videos unreadable at scan time: 'skip' (counted, warned) or
            'error'. Default: 'skip'. Frames broken at load time are ``LoadClipFrames``' job.
        on_missing (str): HanCo sequences or cameras that meta.json lists but that hold no
            frames: 'error' (named) or 'skip' (counted, warned). Default: 'error'.
        backend_args (dict, optional): MMEngine file backend arguments.
        shot_detection (dict, optional): video sources only: split each video at its shot
            cuts, found at index time with PySceneDetect and cached (``dict(detector=
            'adaptive', threshold=2.0, min_scene_len=15, min_content_val=15.0, width=128,
            cache_dir=None)`` or ``detector='content'`` with ``threshold=27.0``, see
            :mod:`.shots`); None: no detection. Default: None.
        video_decoder (str): video sources only: 'pyav' (FFmpeg through PyAV) or 'decord',
            for the index (frame counts, shot cuts) and the frames alike. Default: 'pyav'.
        generate_if_missing (dict, optional): when set and ``data_root`` does not exist,
            write the synthetic hand videos there first, with these generator options
            (see :class:`SyntheticHandsConfig`). An existing ``data_root`` is never touched.
    """

    METAINFO = dict(dataset_type='video_frame_pair')

    def __init__(self,
                 data_root: str,
                 pipeline: Sequence = (),
                 frame_size=None,
                 split: str = 'train',
                 source: str = 'auto',
                 pair_mode: bool = True,
                 num_frames: int = 2,
                 offset_range: Tuple[int, int] = (-4, 4),
                 offset_distribution: str = 'uniform',
                 image_dir: str = 'rgb',
                 cameras: Optional[List[int]] = None,
                 split_file: Optional[str] = None,
                 on_broken: str = 'skip',
                 on_missing: str = 'error',
                 backend_args: Optional[dict] = None,
                 generate_if_missing: Optional[dict] = None,
                 shot_detection: Optional[dict] = None,
                 video_decoder: str = 'pyav',
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 100,
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        if source not in SOURCES:
            raise ValueError(f'source must be one of {SOURCES}, got {source!r}')
        if on_broken not in ('skip', 'error'):
            raise ValueError(f"on_broken must be 'skip' or 'error', got {on_broken!r}")
        if not data_root:
            raise ValueError('data_root is not set')
        self.split, self.source = split, source
        self.frame_size = check_frame_size(frame_size)
        self.clip_sampler = SampleClipFrames(num_frames, offset_range, offset_distribution,
                                             pair_mode)
        self.image_dir, self.cameras, self.split_file = image_dir, cameras, split_file
        self.on_broken, self.on_missing = on_broken, on_missing
        self.backend_args = backend_args
        self.generate_if_missing = generate_if_missing
        self.shot_detection = check_shot_detection(shot_detection)
        self.video_decoder = check_video_decoder(video_decoder)
        self.num_short_clips = 0
        self.num_unreadable = 0
        with mmagic_scope():  # the pipeline's transforms are MMagic's and ours
            super().__init__(data_root=data_root, pipeline=[self.clip_sampler, *pipeline],
                             test_mode=test_mode,
                             lazy_init=lazy_init, max_refetch=max_refetch, **kwargs)

    # -- index --------------------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        if self.generate_if_missing is not None and not osp.exists(self.data_root):
            print_log(f'data_root {self.data_root} does not exist: writing the synthetic hand '
                      f'videos there (dataset key generate_if_missing={self.generate_if_missing})',
                      logger='current', level=30)
            ensure_synthetic_hands(self.data_root, **self.generate_if_missing)
        source = self.source
        if source == 'auto':
            source = detect_source(self.data_root, self.backend_args)
        self.resolved_source = source
        report = self.scan_report = ScanReport()
        if source == 'handco':
            clips = scan_handco(self.data_root, self.split, self.image_dir, self.cameras,
                                self.backend_args, report, self.on_missing)
        elif source == 'videos':
            clips = scan_videos(self.data_root, self.split, self.split_file, self.backend_args,
                                on_unreadable=self._unreadable,
                                shot_detection=self.shot_detection, report=report,
                                video_decoder=self.video_decoder)
        else:
            clips = scan_frame_folders(self.data_root, self.split, self.split_file,
                                       self.backend_args, report)
        where = f'{self.data_root} (split {self.split!r})'
        for items, what in (
                (report.gaps, 'gap(s) in frame ids: the clips are split there, no pair '
                 'straddles a gap'),
                (report.missing, 'frame(s) that meta.json lists are missing (gaps)'),
                (report.absent, "sequence(s) or camera(s) that meta.json lists hold no frames "
                 "(on_missing='skip'): not used"),
                (report.not_frames, 'file(s) in clip folders are not images Pillow reads: '
                 'not used'),
                (report.cuts, 'shot cut(s) in videos: the videos are split there, no pair '
                 'straddles a cut'),
                (report.loops, 'symbolic link(s) lead back to a folder above them (loops): '
                 'skipped')):
            if items:
                print_log(f'{where}: {len(items)} {what}; e.g. {items[:3]}', logger='current',
                          level=30)
        return clips

    def _unreadable(self, path, error):
        if self.on_broken == 'error':
            raise ValueError(f'cannot read video {path}: {error}') from error
        self.num_unreadable += 1
        print_log(f'skipping unreadable video {path}: {type(error).__name__}: {error}',
                  logger='current', level=30)

    def filter_data(self) -> List[dict]:
        """Leave out clips too short for a sample (one warning that counts them)."""
        need = min_clip_length(self.offset_range, self.num_frames)
        kept = [c for c in self.data_list if c['clip_length'] >= need]
        self.num_short_clips = len(self.data_list) - len(kept)
        if self.num_short_clips:
            print_log(f'{self.num_short_clips} of {len(self.data_list)} clips in '
                      f'{self.data_root} (split {self.split!r}) have fewer than {need} frames, '
                      f'too short for offset_range={self.offset_range} and num_frames='
                      f'{self.num_frames}; left out',
                      logger='current', level=30)
        if not kept:
            why = (f'all {len(self.data_list)} clips are shorter than {need} frames'
                   if self.data_list else 'no clips were found')
            raise ValueError(f'dataset {self.data_root} (split {self.split!r}, source '
                             f'{self.resolved_source!r}) is empty after filtering: {why}')
        return kept

    def full_init(self):
        if self._fully_initialized:
            return
        super().full_init()
        clip_ids, frames = [], []
        for c in range(super().__len__()):
            anchors = anchors_of(super().get_data_info(c)['clip_length'], self.offset_range,
                                 self.num_frames)
            clip_ids.append(np.full(len(anchors), c, np.int32))
            frames.append(anchors.astype(np.int32))
        self._anchor_clip = np.concatenate(clip_ids)
        self._anchor_frame = np.concatenate(frames)

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self._anchor_clip)

    def split_view(self, split: str) -> 'VideoFramePairDataset':
        """This dataset (root, source, sampling, pipeline) on another split."""
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        view = copy.copy(self)
        view.split, view._fully_initialized = split, False
        view.full_init()
        return view

    # the sampling options are the clip sampler's (one owner); read here by the index,
    # config checks and metrics
    @property
    def pair_mode(self) -> bool:
        return self.clip_sampler.pair_mode

    @property
    def num_frames(self) -> int:
        return self.clip_sampler.num_frames

    @property
    def offset_range(self) -> Tuple[int, int]:
        return self.clip_sampler.offset_range

    @property
    def offset_distribution(self) -> str:
        return self.clip_sampler.offset_distribution

    @property
    def num_gaps(self) -> int:
        """Gaps in frame ids that clips were split at."""
        return len(self.scan_report.gaps)

    @property
    def num_not_frames(self) -> int:
        """Files in clip folders that are not frames (reported, not used)."""
        return len(self.scan_report.not_frames)

    @property
    def num_cuts(self) -> int:
        """Shot cuts that video clips were split at."""
        return len(self.scan_report.cuts)

    @property
    def num_clips(self) -> int:
        return super().__len__()

    def clip_files(self) -> List[str]:
        """The files the clips read (frame images or video files), each once."""
        infos = (super(VideoFramePairDataset, self).get_data_info(c)
                 for c in range(self.num_clips))
        return list(dict.fromkeys(f for i in infos for f in i.get('frames') or [i['video']]))

    # -- items ---------------------------------------------------------------------------------
    def get_data_info(self, idx: int) -> dict:
        """The clip of anchor ``idx`` with ``anchor`` (its frame index) added, and in
        ``test_mode`` the seed of its draw (``sample_seed``, the index), and the dataset's
        ``frame_size``."""
        info = super().get_data_info(int(self._anchor_clip[idx]))
        info['anchor'] = int(self._anchor_frame[idx])
        info['sample_idx'] = idx
        info['frame_size'] = self.frame_size
        if self.test_mode:
            info['sample_seed'] = idx
        return info

    def __getitem__(self, idx: int) -> dict:
        """MMEngine's item, except that in ``test_mode`` (evaluation) a sample whose frames do
        not decode is replaced, as in training, by the next sample that does (deterministic,
        where training draws one at random); the sample that replaces it carries the indices
        of the samples it skipped in its metainfo (``broken_skipped``), for the evaluation to
        count each broken sample once (a run of broken frames is skipped by every sample
        before it). MMEngine's own test mode stops the run at the first broken frame."""
        if not self.test_mode:
            return super().__getitem__(idx)
        if not self._fully_initialized:
            self.full_init()
        for skipped in range(min(self.max_refetch, len(self)) + 1):
            data = self.prepare_data((idx + skipped) % len(self))
            if data is not None:
                if skipped and 'data_samples' in data:
                    data['data_samples'].set_metainfo(dict(broken_skipped=[
                        (idx + k) % len(self) for k in range(skipped)]))
                return data
        raise RuntimeError(f'{self.data_root} (split {self.split!r}): samples {idx} to '
                           f'{idx + skipped} all hold broken frames; see the warnings above')

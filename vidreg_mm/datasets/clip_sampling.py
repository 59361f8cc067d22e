"""Which frames of a clip a sample holds: the offsets of its partners, drawn by a transform.

The dataset (:class:`~.VideoFramePairDataset`) is an index of anchor frames with their
clip; :class:`SampleClipFrames`, the first transform of its pipeline, draws the partners of
the anchor and writes ``frame_inds`` for ``LoadClipFrames``.
"""
from typing import Optional, Tuple

import numpy as np
from mmagic.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

OFFSET_DISTRIBUTIONS = ('uniform', 'triangular')


def check_offset_range(offset_range) -> Tuple[int, int]:
    """Validate ``offset_range`` = (d_min, d_max): integers, d_min <= d_max, not only 0."""
    try:
        d_min, d_max = (int(v) for v in offset_range)
        if (d_min, d_max) != tuple(offset_range):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f'offset_range must be two integers (d_min, d_max), got '
                         f'{offset_range!r}') from None
    if d_min > d_max or d_min == d_max == 0:
        raise ValueError(f'offset_range={offset_range!r} holds no offset: need d_min <= d_max '
                         f'and a non-zero offset in [d_min, d_max] (d = 0 is never drawn)')
    return d_min, d_max


def num_offsets(offset_range) -> int:
    """Non-zero offsets in ``offset_range`` (counted, not listed)."""
    d_min, d_max = offset_range
    return d_max - d_min + 1 - (1 if d_min <= 0 <= d_max else 0)


def check_num_frames(num_frames, offset_range) -> int:
    """Validate ``num_frames`` (frames per clip sample, >= 2) against ``offset_range``: the
    T - 1 frames beside the anchor are distinct offsets of the range, so it must hold that
    many non-zero offsets."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 2:
        raise ValueError(f'num_frames must be an integer >= 2 (frames per clip sample; '
                         f'pair_mode=False for single frames), got {num_frames!r}')
    if num_offsets(offset_range) < num_frames - 1:
        raise ValueError(f'num_frames={num_frames} needs {num_frames - 1} distinct non-zero '
                         f'offsets beside the anchor, but offset_range={tuple(offset_range)} '
                         f'holds {num_offsets(offset_range)}: widen offset_range or lower '
                         'num_frames')
    return num_frames


def partner_bounds(anchor, clip_length, offset_range):
    """Bounds ``(lo, hi)`` of the offsets ``d`` in ``offset_range`` that keep ``anchor + d``
    inside a clip of ``clip_length`` frames (elementwise for arrays of anchors).

    The one rule of pairing: the partners of an anchor are the non-zero ``d`` in
    ``[lo, hi]``, so the anchor has one when ``lo <= hi`` and the range is not ``{0}``.
    """
    d_min, d_max = offset_range
    return np.maximum(d_min, -anchor), np.minimum(d_max, clip_length - 1 - anchor)


def anchors_of(clip_length: int, offset_range, num_frames: int = 2) -> np.ndarray:
    """The frames of a clip that have at least ``num_frames - 1`` partners."""
    i = np.arange(clip_length)
    lo, hi = partner_bounds(i, clip_length, offset_range)
    partners = hi - lo + 1 - ((lo <= 0) & (0 <= hi))
    return i[partners >= num_frames - 1]


def min_clip_length(offset_range, num_frames: int = 2) -> int:
    """Fewest frames a clip needs to hold a sample of ``num_frames`` frames (closed form):
    ``num_frames`` when the range holds 0 (a window of T frames around the anchor), else the
    smallest |d| allowed + T - 1 (the anchor at one end, the partners at the nearest
    offsets)."""
    d_min, d_max = offset_range
    return num_frames - 1 + (1 if d_min <= 0 <= d_max else min(abs(d_min), abs(d_max)))


@TRANSFORMS.register_module()
class SampleClipFrames(BaseTransform):
    """Draw the frames of a sample around its anchor: a pair ``(i, i + d)``, a clip of T
    frames, or one frame.

    The T - 1 offsets d are drawn from ``offset_range`` without replacement (d = 0 never;
    only offsets that keep ``i + d`` inside the clip, so never across clip or camera
    boundaries), with ``offset_distribution``. A pair keeps the order (anchor, partner);
    clips of T >= 3 frames are put in time order, so that consecutive frames of a sample
    are temporal neighbours (the regulariser's squared difference does not depend on the
    order of a pair). With ``pair_mode=False`` (the baseline) the same frames are drawn and
    one of them is kept at random, so both modes see the same distribution of frames.

    Draws use ``np.random`` (MMEngine seeds it per rank and worker) or, when the results
    hold ``sample_seed`` (the dataset's test mode), a generator seeded by it: a fixed
    function of the sample.

    Reads ``anchor`` and ``clip_length`` (and ``frame_ids``, the image sources' ids of the
    clip's frames); writes ``frame_inds``, ``offset`` (last minus first frame: the signed d
    of a pair, the span of a clip, 0 for one frame) and the kept ``frame_ids``.

    Args:
        num_frames (int): T >= 2 frames per sample in pair mode. Default: 2.
        offset_range (tuple[int, int]): signed (d_min, d_max). Default: (-4, 4).
        offset_distribution (str): 'uniform', or 'triangular' (weight max|d| + 1 - |d|,
            favouring near frames). Default: 'uniform'.
        pair_mode (bool): the T frames (True) or one of them (False). Default: True.
    """

    def __init__(self, num_frames: int = 2, offset_range: Tuple[int, int] = (-4, 4),
                 offset_distribution: str = 'uniform', pair_mode: bool = True):
        if offset_distribution not in OFFSET_DISTRIBUTIONS:
            raise ValueError(f'offset_distribution must be one of {OFFSET_DISTRIBUTIONS}, '
                             f'got {offset_distribution!r}')
        self.offset_range = check_offset_range(offset_range)
        self.num_frames = check_num_frames(num_frames, self.offset_range)
        self.offset_distribution = offset_distribution
        self.pair_mode = bool(pair_mode)

    def offset_candidates(self, i: int, n: int) -> Tuple[np.ndarray, np.ndarray]:
        """Offsets allowed for anchor ``i`` of an ``n``-frame clip and their probabilities."""
        lo, hi = partner_bounds(i, n, self.offset_range)
        d = np.arange(lo, hi + 1)
        d = d[d != 0]
        if self.offset_distribution == 'uniform':
            w = np.ones(len(d))
        else:
            w = (max(map(abs, self.offset_range)) + 1 - np.abs(d)).astype(float)
        return d, w / w.sum()

    def transform(self, results: dict) -> dict:
        seed: Optional[int] = results.pop('sample_seed', None)
        rng = np.random if seed is None else np.random.default_rng(seed)
        i = results.pop('anchor')
        offsets, probs = self.offset_candidates(i, results['clip_length'])
        ds = rng.choice(offsets, size=self.num_frames - 1, replace=False, p=probs)
        drawn = [i] + [i + int(d) for d in ds]
        if self.pair_mode:
            frames = drawn if self.num_frames == 2 else sorted(drawn)
            results['frame_inds'], results['offset'] = frames, frames[-1] - frames[0]
        else:
            results['frame_inds'], results['offset'] = [drawn[int(rng.random() * len(drawn))]], 0
        if 'frame_ids' in results:  # image sources: the frames' ids from their file names
            results['frame_ids'] = [results['frame_ids'][k] for k in results['frame_inds']]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_frames={self.num_frames}, offset_range='
                f'{self.offset_range}, offset_distribution={self.offset_distribution!r}, '
                f'pair_mode={self.pair_mode})')

"""Transforms for frame pairs that MMagic lacks.

MMagic's ``Resize``, ``FixedCrop`` (random position) and ``Flip`` already apply one draw to
every frame of a list, so pair pipelines use them as they are (``tests/test_pair_transforms.py``
runs each on a pair). MMagic's ``CenterCropLongEdge`` takes one image, not a list: use
``PairedCenterCropLongEdge``. Written here: the centre crop, a resized crop with one draw
for all frames (MMagic's ``RandomResizedCrop`` draws per key and does not take lists), a
colour jitter drawing from NumPy's generator
(MMagic's ``ColorJitter`` reseeds torch's global generator, which would tie the training
noise to the data pipeline), the resize to the dataset's ``frame_size`` (MMagic's ``Resize``
at a size the dataset owns, so a recipe changes the resolution with one key rather than
restating the pipeline) and the packing transform.

All transforms read and write ``results[key]`` as a list of HxWx3 uint8 frames.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmagic.datasets.transforms import Resize
from mmagic.registry import TRANSFORMS
from mmagic.structures import DataSample
from mmcv.transforms import BaseTransform
from torchvision.transforms import functional as TF

META_KEYS = ('clip_id', 'sequence', 'camera', 'split', 'frame_inds', 'frame_ids', 'offset',
             'sample_idx')


def _frames(results, key):
    frames = results[key]
    if not isinstance(frames, list) or not frames:
        raise TypeError(f'results[{key!r}] must be a non-empty list of frames, got '
                        f'{type(frames).__name__}')
    return frames


@TRANSFORMS.register_module()
class PairedCenterCropLongEdge(BaseTransform):
    """Crop the centred square of side min(h, w) from every frame of the list (MMagic's
    ``CenterCropLongEdge`` for lists of frames, which must share one size).

    Args:
        keys (list[str]): keys holding lists of frames. Default: ['img'].
    """

    def __init__(self, keys=('img',)):
        self.keys = list(keys)

    def transform(self, results: dict) -> dict:
        for key in self.keys:
            frames = _frames(results, key)
            shapes = {f.shape[:2] for f in frames}
            if len(shapes) != 1:
                raise ValueError(f'PairedCenterCropLongEdge: the frames of results[{key!r}] '
                                 f'differ in size: {sorted(shapes)}')
            h, w = shapes.pop()
            side = min(h, w)
            y, x = (h - side) // 2, (w - side) // 2
            results[key] = [np.ascontiguousarray(f[y:y + side, x:x + side]) for f in frames]
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(keys={self.keys})'


@TRANSFORMS.register_module()
class PairedRandomResizedCrop(BaseTransform):
    """Crop a random area and aspect ratio, then resize to ``crop_size``: one draw per sample.

    Args:
        keys (list[str]): keys holding lists of frames. Default: ['img'].
        crop_size (int | tuple[int, int]): output (h, w).
        scale (tuple[float, float]): range of the crop's area fraction. Default: (0.5, 1.0).
        ratio (tuple[float, float]): range of the crop's aspect ratio w/h. Default: (3/4, 4/3).
        interpolation (str): mmcv interpolation. Default: 'area'.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]], keys=('img',),
                 scale=(0.5, 1.0), ratio=(3. / 4., 4. / 3.), interpolation='area'):
        self.crop_size = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(
            crop_size)
        if len(self.crop_size) != 2 or min(self.crop_size) < 1:
            raise ValueError(f'crop_size must be a positive int or (h, w), got {crop_size}')
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f'scale must satisfy 0 < min <= max <= 1, got {scale}')
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f'ratio must satisfy 0 < min <= max, got {ratio}')
        self.keys = list(keys)
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation

    def get_params(self, h: int, w: int):
        """(top, left, crop_h, crop_w) from ``np.random``; center crop after 10 misses."""
        area = h * w
        for _ in range(10):
            target = np.random.uniform(*self.scale) * area
            aspect = math.exp(np.random.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
            cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                return np.random.randint(0, h - ch + 1), np.random.randint(0, w - cw + 1), ch, cw
        ch, cw = min(h, w), min(h, w)
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def transform(self, results):
        h, w = _frames(results, self.keys[0])[0].shape[:2]
        top, left, ch, cw = self.get_params(h, w)
        out_h, out_w = self.crop_size
        for key in self.keys:
            results[key] = [
                mmcv.imresize(f[top:top + ch, left:left + cw], (out_w, out_h),
                              interpolation=self.interpolation) for f in _frames(results, key)]
            results[f'{key}_crop_bbox'] = [left, top, cw, ch]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(keys={self.keys}, crop_size={self.crop_size}, '
                f'scale={self.scale}, ratio={self.ratio})')


@TRANSFORMS.register_module()
class PairedColorJitter(BaseTransform):
    """Jitter brightness, contrast, saturation and hue, with the same factors for all frames.

    Factors are drawn from ``np.random`` (seeded per worker by MMEngine): brightness,
    contrast and saturation uniformly from [1 - x, 1 + x], hue from [-hue, hue]. Applied in
    a fixed order. Args: keys, brightness, contrast, saturation, hue (all >= 0, hue <= 0.5).
    """

    def __init__(self, keys=('img',), brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        for name, v in dict(brightness=brightness, contrast=contrast,
                            saturation=saturation).items():
            if v < 0:
                raise ValueError(f'{name} must be >= 0, got {v}')
        if not 0 <= hue <= 0.5:
            raise ValueError(f'hue must be in [0, 0.5], got {hue}')
        self.keys = list(keys)
        self.brightness, self.contrast, self.saturation, self.hue = (brightness, contrast,
                                                                     saturation, hue)

    def draw(self):
        f = lambda x: float(np.random.uniform(max(0., 1 - x), 1 + x))  # noqa: E731
        return (f(self.brightness), f(self.contrast), f(self.saturation),
                float(np.random.uniform(-self.hue, self.hue)))

    def transform(self, results):
        b, c, s, h = self.draw()
        for key in self.keys:
            frames = torch.from_numpy(np.stack(_frames(results, key))).permute(0, 3, 1, 2)
            frames = TF.adjust_hue(TF.adjust_saturation(TF.adjust_contrast(
                TF.adjust_brightness(frames, b), c), s), h)
            results[key] = list(frames.permute(0, 2, 3, 1).contiguous().numpy())
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(keys={self.keys}, brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, hue={self.hue})')


@TRANSFORMS.register_module()
class ResizeFrames(BaseTransform):
    """Resize every frame to ``results['frame_size']``, the dataset's ``frame_size`` key
    (:class:`~.VideoFramePairDataset`): MMagic's ``Resize`` (``keep_ratio=False``) at that
    size; frames are left at their size where it is None.

    Frames of another aspect ratio than ``frame_size`` (beyond 2%, e.g. 16:9 video at a
    square size) are refused naming the clip, unless ``stretch=True``: a stretched hand is
    not the hand of the data. Crop first (``PairedCenterCropLongEdge`` gives square frames)
    to keep the proportions.

    Args:
        keys (list[str]): keys holding lists of frames. Default: ['img'].
        interpolation (str): mmcv's interpolation ('area' averages the pixels a smaller
            frame's pixel covers: no aliasing when shrinking). Default: 'area'.
        stretch (bool): resize frames of another aspect ratio anyway. Default: False.
    """

    #: relative difference of aspect ratios (w / h) taken as the same (rounding of sizes)
    ASPECT_TOLERANCE = 0.02

    def __init__(self, keys=('img',), interpolation: str = 'area', stretch: bool = False):
        self.keys, self.interpolation, self.stretch = list(keys), interpolation, bool(stretch)
        self._resizers = {}

    def transform(self, results):
        if 'frame_size' not in results:
            raise KeyError("ResizeFrames reads results['frame_size'], which "
                           'VideoFramePairDataset sets from its frame_size key; with another '
                           "dataset use MMagic's Resize(scale=...)")
        size = results['frame_size']
        if size is None:
            return results
        h, w = size
        if not self.stretch:
            fh, fw = results[self.keys[0]][0].shape[:2]
            if abs((fw / fh) / (w / h) - 1) > self.ASPECT_TOLERANCE:
                raise ValueError(
                    f"ResizeFrames: the frames of clip {results.get('clip_id', '?')} are "
                    f'{fw} x {fh} (w x h), another aspect ratio than frame_size {h} x {w} '
                    '(h x w): resizing would stretch them. Crop them first '
                    "(dict(type='PairedCenterCropLongEdge') before ResizeFrames gives square "
                    'frames), set the dataset\'s frame_size to their proportions, or allow '
                    "it: dict(type='ResizeFrames', stretch=True)")
        if size not in self._resizers:
            self._resizers[size] = Resize(keys=self.keys, scale=(w, h), keep_ratio=False,
                                          interpolation=self.interpolation)
        return self._resizers[size](results)

    def __repr__(self):
        return (f'{self.__class__.__name__}(keys={self.keys}, '
                f'interpolation={self.interpolation!r}, stretch={self.stretch})')


def check_frame_size(frame_size) -> Optional[Tuple[int, int]]:
    """``frame_size`` as ``(h, w)`` (an integer is a square), or None (native size)."""
    if frame_size is None:
        return None
    size = (frame_size, frame_size) if isinstance(frame_size, int) else frame_size
    try:
        h, w = size
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f'frame_size must be a positive integer (square frames), (h, w) or '
                         f'None (the frames\' own size), got {frame_size!r}')
    return int(h), int(w)


@TRANSFORMS.register_module()
class PackFrames(BaseTransform):
    """Pack frames into ``inputs`` (uint8 tensor T x 3 x H x W; T = 2 for a pair, 1 single)
    and a :class:`mmagic.structures.DataSample` carrying the clip metadata
    (``clip_id``, ``sequence``, ``camera``, ``split``, ``frame_inds`` (positions in the
    clip), ``frame_ids`` (ids from the file names, image sources), ``offset``).

    Args:
        key (str): the key holding the list of frames. Default: 'img'.
        meta_keys (sequence[str]): metadata copied into the data sample's metainfo.
    """

    def __init__(self, key: str = 'img', meta_keys: Sequence[str] = META_KEYS):
        self.key = key
        self.meta_keys = tuple(meta_keys)

    def transform(self, results):
        frames = np.stack(_frames(results, self.key))
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f'frames must be uint8 H x W x 3, got {frames.dtype} '
                             f'{frames.shape[1:]}')
        inputs = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
        sample = DataSample()
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        sample.set_metainfo(dict(img_shape=frames.shape[1:3]))
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self):
        return f'{self.__class__.__name__}(key={self.key!r}, meta_keys={self.meta_keys})'

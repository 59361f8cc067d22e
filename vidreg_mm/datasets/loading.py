"""Decode the frames of a pair (or a single frame) from image files or a video file."""
import io
import os.path as osp
from collections import OrderedDict
from typing import List, Optional

import numpy as np
from mmagic.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log

from .image_decoding import DEFAULT_MAX_PIXELS, BrokenFrameError, decode_image

#: video decoders: PyAV (FFmpeg's libraries, maintained) and decord 0.6.0 (no release since
#: 2021; fails on frame widths such as 16, 24, 48 and 72 and rescales clips whose frame size
#: changes); the dataset's ``video_decoder`` picks one
VIDEO_DECODERS = ('pyav', 'decord')


def check_video_decoder(decoder) -> str:
    if decoder not in VIDEO_DECODERS:
        raise ValueError(f'video_decoder must be one of {VIDEO_DECODERS}, got {decoder!r}')
    return decoder


class DecordReader:
    """decord's VideoReader behind the interface of :class:`PyAVReader`."""

    def __init__(self, source):
        import decord

        # ffmpeg's own messages would flood the log on a damaged file; failures raise instead
        decord.logging.set_level(decord.logging.ERROR)
        self._reader = decord.VideoReader(source, num_threads=1)

    def __len__(self) -> int:
        return len(self._reader)

    def get_batch(self, inds: List[int]) -> np.ndarray:
        return self._reader.get_batch(list(inds)).asnumpy()


class PyAVReader:
    """Frame-accurate random access to the first video stream of a file with PyAV.

    Frames are numbered in presentation order: the presentation timestamps of all frames are
    read once from the packets (demuxing, no decoding), and :meth:`get_batch` seeks to the
    keyframe at or before the first wanted frame and decodes forward to the last (a stream
    whose timestamps are missing or repeat is counted and read by decoding from its start
    instead). Every frame
    comes at its own size; a frame whose size differs from the stream's is a
    :class:`BrokenFrameError` that says so (decord would rescale it without a word).
    """

    def __init__(self, source):
        import av
        self._container = av.open(source)
        if not self._container.streams.video:
            raise BrokenFrameError('the file holds no video stream')
        self._stream = self._container.streams.video[0]
        ctx = self._stream.codec_context
        self.size = (ctx.height, ctx.width)
        pts = [p.pts for p in self._container.demux(self._stream) if p.size > 0]
        if None in pts or len(set(pts)) != len(pts):
            # timestamps that cannot number the frames (missing, or restarting as in joined
            # streams): count by decoding, and decode from the start for each batch
            self._container.seek(0)
            self._pts = None
            self._count = sum(1 for _ in self._container.decode(self._stream))
        else:
            self._pts = sorted(pts)
            self._count = len(self._pts)

    def __len__(self) -> int:
        return self._count

    def _frame(self, frame) -> np.ndarray:
        img = frame.to_ndarray(format='rgb24')
        if img.shape[:2] != self.size:
            raise BrokenFrameError(
                f'frame size changes within the video: a frame is {img.shape[1]}x'
                f'{img.shape[0]}, the stream {self.size[1]}x{self.size[0]}')
        return img

    def get_batch(self, inds: List[int]) -> np.ndarray:
        inds = [int(i) for i in inds]
        if min(inds) < 0 or max(inds) >= self._count:
            raise BrokenFrameError(f'frames {inds} requested, the video has {self._count}')
        found = {}
        if self._pts is None:
            self._container.seek(0)
            for k, frame in enumerate(self._container.decode(self._stream)):
                if k in inds:
                    found[k] = self._frame(frame)
                if k >= max(inds):
                    break
        else:
            wanted = {self._pts[i]: i for i in inds}
            last = self._pts[max(inds)]
            self._container.seek(self._pts[min(inds)], stream=self._stream, backward=True,
                                 any_frame=False)
            for frame in self._container.decode(self._stream):
                if frame.pts in wanted:
                    found[wanted[frame.pts]] = self._frame(frame)
                if frame.pts is not None and frame.pts >= last:
                    break
        missing = sorted(set(inds) - set(found))
        if missing:
            raise BrokenFrameError(f'frames {missing} did not decode')
        return np.stack([found[i] for i in inds])


def write_video(path: str, frames, fps: int = 25) -> None:
    """Write RGB uint8 frames (H x W x 3 arrays, or PIL images) as an mp4 file (MPEG-4 part 2,
    OpenCV's writer): the videos of the tools, benchmarks, tests and environment check."""
    import cv2
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError(f'{path}: no frames to write')
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'{path}: OpenCV cannot write mp4 here (no mp4v encoder)')
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # OpenCV takes BGR
    finally:
        writer.release()


def open_video(path: str, backend_args: Optional[dict] = None, decoder: str = 'pyav'):
    """A reader of ``path`` (``len``, ``get_batch(indices)`` -> N x H x W x 3 RGB uint8) with
    the given decoder: local files directly, other backends via bytes."""
    reader = {'pyav': PyAVReader, 'decord': DecordReader}[check_video_decoder(decoder)]
    backend = fileio.get_file_backend(path, backend_args=backend_args)
    if isinstance(backend, fileio.LocalBackend):
        if not osp.isfile(path):
            raise FileNotFoundError(f'video {path} does not exist')
        return reader(path)
    return reader(io.BytesIO(backend.get(path)))


@TRANSFORMS.register_module()
class LoadClipFrames(BaseTransform):
    """Decode the frames ``frame_inds`` of one clip into ``results['img']`` (a list, RGB uint8).

    Image clips (``results['frames']``) are read through MMEngine's file backends and decoded
    with Pillow (:func:`.image_decoding.decode_image`: turned upright by their EXIF
    orientation, refused above ``max_pixels``), which rejects truncated files. Video clips
    (``results['video']``) are decoded with the clip's ``video_decoder`` (the dataset's
    option: PyAV by default, or decord), the whole pair in one ``get_batch`` call; each
    worker keeps a bounded cache of open readers, so a video is opened once per worker.

    A broken frame or video is skipped by default: the transform returns ``None`` (MMEngine's
    dataset then draws another sample), counts it, and warns once per file with its path.
    ``on_broken='error'`` raises instead.

    Args:
        max_open_videos (int): size of the per-worker reader cache. Default: 16.
        on_broken (str): 'skip' or 'error'. Default: 'skip'.
        backend_args (dict, optional): MMEngine file backend arguments.
        max_pixels (int): image frames with more pixels are refused, naming the file, before
            they are decoded. Default: 40 million (8K passes).
    """

    def __init__(self, max_open_videos: int = 16, on_broken: str = 'skip',
                 backend_args: Optional[dict] = None, max_pixels: int = DEFAULT_MAX_PIXELS):
        if on_broken not in ('skip', 'error'):
            raise ValueError(f"on_broken must be 'skip' or 'error', got {on_broken!r}")
        if max_open_videos < 1:
            raise ValueError(f'max_open_videos must be >= 1, got {max_open_videos}')
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ValueError(f'max_pixels must be a positive integer, got {max_pixels!r}')
        self.max_open_videos, self.max_pixels = max_open_videos, max_pixels
        self.on_broken = on_broken
        self.backend_args = backend_args
        self._readers = OrderedDict()
        self.num_broken = 0
        self._warned = set()

    # -- decoding ---------------------------------------------------------------------------
    def _reader(self, path, decoder: str):
        key = (path, decoder)
        reader = self._readers.pop(key, None)
        if reader is None:
            reader = open_video(path, self.backend_args, decoder)
            if len(self._readers) >= self.max_open_videos:
                self._readers.popitem(last=False)
        self._readers[key] = reader  # most recently used last
        return reader

    def _decode_video(self, path, inds: List[int], decoder: str = 'pyav') -> List[np.ndarray]:
        try:
            reader = self._reader(path, decoder)
            if max(inds) >= len(reader):
                raise BrokenFrameError(f'frame {max(inds)} requested, video has {len(reader)}')
            batch = reader.get_batch(list(inds))
        except BrokenFrameError:
            raise
        except Exception as e:  # noqa: BLE001  decoders raise their own error types
            self._readers.pop((path, decoder), None)
            raise BrokenFrameError(f'{type(e).__name__}: {e}') from e
        if batch.ndim != 4 or batch.shape[0] != len(inds) or batch.shape[-1] != 3:
            raise BrokenFrameError(f'decoded an array of shape {batch.shape} for {len(inds)} '
                                   'RGB frames')
        return [np.ascontiguousarray(f) for f in batch]

    def _decode_image(self, path) -> np.ndarray:
        try:
            content = fileio.get(path, backend_args=self.backend_args)
        except Exception as e:  # noqa: BLE001  backends raise their own error types
            raise BrokenFrameError(f'{type(e).__name__}: {e}') from e
        return decode_image(content, path, self.max_pixels)

    # -- transform --------------------------------------------------------------------------
    def transform(self, results: dict) -> Optional[dict]:
        inds = [int(i) for i in results['frame_inds']]
        if 'video' in results:  # positions in a clip that starts at frame `start` of the video
            try:
                first = int(results.get('start', 0))
                frames = self._decode_video(results['video'], [first + i for i in inds],
                                            results.get('video_decoder', 'pyav'))
            except BrokenFrameError as e:
                return self._broken(results['video'], e)
        else:
            frames = []
            for i in inds:
                path = results['frames'][i]
                try:
                    frames.append(self._decode_image(path))
                except BrokenFrameError as e:
                    return self._broken(path, e)
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            return self._broken(results.get('video', results['clip_id']),
                                BrokenFrameError(f'frames differ in size: {shapes}'))
        results['img'] = frames
        results['ori_img_shape'] = frames[0].shape
        results['img_channel_order'] = 'rgb'
        return results

    def _broken(self, path: str, error: Exception):
        """Skip (count, warn once per file, return None) or raise, as configured."""
        if self.on_broken == 'error':
            raise BrokenFrameError(f'cannot decode {path}: {error} '
                                   "(set on_broken='skip' to skip broken samples)") from error
        self.num_broken += 1
        if path not in self._warned:
            self._warned.add(path)
            print_log(f'skipping broken frame(s) {path}: {error} '
                      f'[{self.num_broken} broken sample(s) skipped so far in this process]',
                      logger='current', level=30)
        return None

    def __getstate__(self):
        # Open readers hold native handles: workers open their own.
        state = self.__dict__.copy()
        state['_readers'] = OrderedDict()
        return state

    def __repr__(self):
        return (f'{self.__class__.__name__}(max_open_videos={self.max_open_videos}, '
                f'on_broken={self.on_broken!r})')

"""PyAV, the default video decoder, and decord: frame-accurate pairs, any frame width, a
frame size that changes refused by name."""
import av
import cv2
import numpy as np
import pytest

from vidreg_mm.datasets import LoadClipFrames, VideoFramePairDataset
from vidreg_mm.datasets.loading import BrokenFrameError, PyAVReader, open_video
from vidreg_mm.datasets.loading import write_video as write_rgb_video

from .conftest import write_video


def frames_of(n, h, w, seed=0):
    """Frames that differ from each other (a moving bar on a gradient), BGR."""
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 200, w, dtype=np.float32)[None, :, None].repeat(h, 0).repeat(3, 2)
    out = []
    for i in range(n):
        f = base + rng.uniform(0, 30, 3)
        f[:, (3 * i) % w:(3 * i) % w + 3] = 255
        out.append(f.astype(np.uint8))
    return out


def test_the_video_writer_takes_rgb_and_refuses_no_frames(tmp_path):
    path = str(tmp_path / 'red.mp4')
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 200
    write_rgb_video(path, [red] * 4)
    got = open_video(path).get_batch([2])[0].astype(float).mean(axis=(0, 1))
    assert got[0] > 150 and got[1] < 40 and got[2] < 40  # red stays red
    with pytest.raises(ValueError, match='empty.mp4: no frames to write'):
        write_rgb_video(str(tmp_path / 'empty.mp4'), [])


@pytest.mark.parametrize('width', [16, 24, 48, 72])
def test_pyav_decodes_frame_widths_that_decord_cannot(tmp_path, width):
    path = str(tmp_path / f'w{width}.mp4')
    written = frames_of(8, 32, width)
    write_video(path, written)
    reader = open_video(path)  # the default decoder
    assert isinstance(reader, PyAVReader) and len(reader) == 8
    got = reader.get_batch([5, 1])
    assert got.shape == (2, 32, width, 3) and got.dtype == np.uint8
    for img, k in zip(got, (5, 1)):
        assert np.abs(img.astype(float) - written[k][..., ::-1]).mean() < 12  # lossy mp4v


def test_random_access_is_frame_accurate(tmp_path):
    path = str(tmp_path / 'v.mp4')
    write_video(path, frames_of(30, 32, 32))
    container = av.open(path)
    sequential = [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]
    reader = open_video(path, decoder='pyav')
    for inds in ([13, 3], [29], [0, 11, 12], [25, 24], [4, 4]):
        assert np.array_equal(reader.get_batch(inds), np.stack([sequential[i] for i in inds]))
    with pytest.raises(BrokenFrameError, match='frames \\[30\\] requested, the video has 30'):
        reader.get_batch([30])
    decord = open_video(path, decoder='decord')  # the other decoder, same frames in number
    assert len(decord) == 30 and decord.get_batch([3, 13]).shape == (2, 32, 32, 3)


def _ts(path, w, h, n, value):
    c = av.open(path, 'w', format='mpegts')
    s = c.add_stream('mpeg2video', rate=10)
    s.width, s.height, s.pix_fmt = w, h, 'yuv420p'
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), value + 10 * i, np.uint8),
                                           format='rgb24')
        for p in s.encode(frame):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()


def test_a_frame_size_that_changes_is_refused_by_name(tmp_path, mmlog):
    # two transport streams joined: the width changes from 32 to 48 and the timestamps restart
    a, b, joined = (str(tmp_path / n) for n in ('a.ts', 'b.ts', 'joined.ts'))
    _ts(a, 32, 32, 6, 20)
    _ts(b, 48, 32, 6, 120)
    with open(joined, 'wb') as f:
        f.write(open(a, 'rb').read() + open(b, 'rb').read())
    reader = open_video(joined)
    assert reader.get_batch([1, 2]).shape == (2, 32, 32, 3)  # frames of the first size
    with pytest.raises(BrokenFrameError, match='frame size changes within the video: a frame '
                       'is 48x32, the stream 32x32'):
        reader.get_batch([2, len(reader) - 1])
    # the transform skips the pair and names the file; decord would rescale the frame
    load = LoadClipFrames()
    assert load(dict(video=joined, frame_inds=[2, len(reader) - 1], clip_id='j')) is None
    assert load.num_broken == 1 and any(joined in m and 'frame size changes' in m
                                        for m in mmlog)


def test_the_decoder_is_a_dataset_option_with_pyav_by_default(tmp_path):
    (tmp_path / 'train').mkdir()
    write_video(str(tmp_path / 'train' / 'c.mp4'), [cv2.resize(f, (24, 32)) for f in
                                                    frames_of(6, 32, 32)])
    ds = VideoFramePairDataset(str(tmp_path), pipeline=[dict(type='LoadClipFrames'),
                                                        dict(type='PackFrames')])
    assert ds.video_decoder == 'pyav' and ds.get_data_info(0)['video_decoder'] == 'pyav'
    assert ds[0]['inputs'].shape == (2, 3, 32, 24)
    with pytest.raises(ValueError, match="video_decoder must be one of \\('pyav', 'decord'\\), "
                       "got 'opencv'"):
        VideoFramePairDataset(str(tmp_path), video_decoder='opencv')

"""tools/data/make_photo_pans.py: clips of a camera moving over the photographs that ship with
scikit-image, in the `frames` layout that VideoFramePairDataset reads."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from vidreg_mm.datasets import VideoFramePairDataset

from .conftest import load_tool

tool = load_tool('tools/data/make_photo_pans.py')


def test_window_path_stays_inside_the_photo_and_moves_smoothly():
    rng = np.random.default_rng(0)
    for _ in range(200):
        boxes = tool.window_path(rng, 300, 200, 16)
        assert boxes.shape == (16, 4)
        assert (boxes[:, :2] >= -1e-6).all() and (boxes[:, 2] <= 300 + 1e-6).all()
        assert (boxes[:, 3] <= 200 + 1e-6).all()
        sides = boxes[:, 2] - boxes[:, 0]
        np.testing.assert_allclose(sides, boxes[:, 3] - boxes[:, 1])  # square windows
        assert abs(sides[-1] / sides[0] - 1) <= 0.1 + 1e-9  # up to 10% from its start
        # a straight line at constant speed: equal steps between consecutive frames
        steps = np.diff(boxes, axis=0)
        np.testing.assert_allclose(steps, np.broadcast_to(steps[:1], steps.shape), atol=1e-9)


def test_writes_a_frames_dataset_whose_pairs_are_nearby_views(tmp_path):
    root = str(tmp_path / 'pans')
    counts = tool.write_clips(root, clips_per_photo=3, val_clips=1, clip_length=6, size=24,
                              photos=('coffee.png', 'chelsea.png'))
    assert counts == dict(train=dict(clips=4, frames=24), val=dict(clips=2, frames=12))
    assert sorted(os.listdir(osp.join(root, 'val'))) == ['chelsea_02', 'coffee_02']
    frame = Image.open(osp.join(root, 'train', 'coffee_00', '0005.png'))
    assert frame.size == (24, 24) and frame.mode == 'RGB'

    ds = VideoFramePairDataset(root, split='train', offset_range=(-1, 1), pair_mode=True,
                               shot_detection=None)
    assert ds.resolved_source == 'frames' and ds.num_clips == 4

    def frames(clip):
        return np.stack([np.asarray(Image.open(osp.join(root, 'train', clip, f'{i:04d}.png')),
                                    dtype=np.float64) for i in range(6)])

    a, b = frames('coffee_00'), frames('chelsea_00')
    neighbours = np.abs(np.diff(a, axis=0)).mean()
    strangers = np.abs(a - b).mean()
    assert 0 < neighbours < 0.5 * strangers  # the camera moves, a little per frame


def test_cli_writes_in_place_or_not_at_all(tmp_path, monkeypatch):
    out = tmp_path / 'pans'
    counts = tool.main([str(out), '--clips-per-photo', '2', '--val-clips', '1',
                        '--clip-length', '2', '--size', '8'])
    n = len(tool.PHOTOS)
    assert counts == dict(train=dict(clips=n, frames=2 * n), val=dict(clips=n, frames=2 * n))
    assert sorted(os.listdir(tmp_path)) == ['pans']

    def broken(folder, *args, **kwargs):
        os.makedirs(osp.join(folder, 'train', 'half'))
        raise KeyboardInterrupt

    monkeypatch.setattr(tool, 'write_clips', broken)
    with pytest.raises(KeyboardInterrupt):
        tool.main([str(tmp_path / 'again')])
    assert sorted(os.listdir(tmp_path)) == ['pans']  # no half-written dataset left


def test_cli_refuses_an_existing_folder_and_a_bad_split(tmp_path):
    with pytest.raises(ValueError, match='val_clips=3'):
        tool.write_clips(str(tmp_path / 'x'), clips_per_photo=3, val_clips=3)
    os.makedirs(tmp_path / 'exists')
    with pytest.raises(SystemExit, match='already exists'):
        tool.main([str(tmp_path / 'exists')])


def test_a_missing_photograph_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(tool, 'photo_dir', lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match='astronaut.png.*downloads nothing'):
        tool.load_photo('astronaut.png')


def test_shot_lengths_split_a_clip_nearly_evenly():
    assert tool.shot_lengths(48, 3) == [16, 16, 16]
    assert tool.shot_lengths(10, 3) == [4, 3, 3]
    assert tool.shot_lengths(5, 1) == [5]
    with pytest.raises(ValueError, match='shots=6 must be in'):
        tool.shot_lengths(5, 6)


def test_edited_footage_as_videos_whose_cuts_the_dataset_finds(tmp_path):
    root = str(tmp_path / 'edited')
    photos = ('coffee.png', 'chelsea.png', 'astronaut.png')
    counts = tool.write_clips(root, clips_per_photo=2, val_clips=1, clip_length=48, size=64,
                              seed=7, photos=photos, shots=3, fmt='mp4')
    assert counts == dict(train=dict(clips=3, frames=144, cuts=6),
                          val=dict(clips=3, frames=144, cuts=6))
    assert sorted(os.listdir(osp.join(root, 'train'))) == [
        'astronaut_00.mp4', 'chelsea_00.mp4', 'coffee_00.mp4']
    # every cut of the three videos is found at its frame, by the configs' default detector
    ds = VideoFramePairDataset(root, split='train', offset_range=(-1, 1), pair_mode=True,
                               shot_detection=dict(detector='adaptive', threshold=2.0,
                                                   cache_dir=str(tmp_path / 'cache')))
    assert ds.resolved_source == 'videos' and ds.num_cuts == 6
    shots = sorted((ds.get_data_info(i)['clip_id'], ds.get_data_info(i)['clip_length'])
                   for i in range(len(ds)))
    assert sorted(set(shots)) == sorted(
        (f'{stem}_00/cam0@{start}', 16) for stem in ('astronaut', 'chelsea', 'coffee')
        for start in (0, 16, 32))
    # the frames on either side of a cut are views of other photographs
    from vidreg_mm.datasets.loading import open_video
    frames = open_video(osp.join(root, 'train', 'coffee_00.mp4')).get_batch(
        list(range(48))).astype(np.float64)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    within = np.delete(steps, [15, 31])
    assert min(steps[15], steps[31]) > 2 * within.max()


def test_bad_shots_or_format_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fmt='gif'"):
        tool.write_clips(str(tmp_path / 'a'), fmt='gif')
    with pytest.raises(ValueError, match='at least two photographs'):
        tool.write_clips(str(tmp_path / 'b'), clips_per_photo=2, val_clips=1, clip_length=4,
                         size=8, shots=2, photos=('coffee.png', ))

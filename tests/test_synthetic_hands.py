"""The embedded default data: HanCo layout, meta.json, determinism, CLIs."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from vidreg_mm.datasets import ensure_synthetic_hands, generate_synthetic_hands

from .conftest import TINY, load_tool


def test_layout_and_meta_match_hanco(handco_root):
    meta = json.load(open(osp.join(handco_root, 'meta.json')))
    assert set(meta) == {'is_train', 'subject_id', 'is_valid', 'object_id', 'has_fit'}
    for key, per_seq in meta.items():
        assert len(per_seq) == TINY['num_sequences'], key
        assert all(len(frames) == TINY['clip_length'] for frames in per_seq), key
    assert sorted(os.listdir(osp.join(handco_root, 'rgb'))) == ['0000', '0001', '0002', '0003']
    for s in range(TINY['num_sequences']):
        for c in range(TINY['num_cameras']):
            names = sorted(os.listdir(osp.join(handco_root, 'rgb', f'{s:04d}', f'cam{c}')))
            assert names == [f'{t:08d}.jpg' for t in range(TINY['clip_length'])]
    img = cv2.imread(osp.join(handco_root, 'rgb', '0002', 'cam1', '00000005.jpg'))
    assert img.shape == (32, 32, 3)
    assert [v[0] for v in meta['is_train']].count(False) == 1  # val_fraction 0.25 of 4


def _frames(root, s, c):
    folder = osp.join(root, 'rgb', f'{s:04d}', f'cam{c}')
    return np.stack([cv2.imread(osp.join(folder, n)) for n in sorted(os.listdir(folder))])


def test_videos_move_smoothly_and_cameras_differ(tmp_path):
    root = str(tmp_path / 'h')
    generate_synthetic_hands(root, num_sequences=2, num_cameras=2, clip_length=12, size=48)
    f = _frames(root, 0, 0).astype(float)
    step = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))
    far = np.abs(f[-1] - f[0]).mean()
    assert step.min() > 0.05, 'consecutive frames should change (the hand moves)'
    assert step.mean() < far, 'neighbours must be closer than the ends of a clip'
    assert np.abs(_frames(root, 0, 1).astype(float) - f).mean() > step.mean()


def test_generation_is_deterministic_for_a_seed(tmp_path):
    kw = dict(num_sequences=2, num_cameras=1, clip_length=3, size=16)
    a, b, c = (str(tmp_path / n) for n in 'abc')
    generate_synthetic_hands(a, seed=5, **kw)
    generate_synthetic_hands(b, seed=5, **kw)
    generate_synthetic_hands(c, seed=6, **kw)
    assert np.array_equal(_frames(a, 1, 0), _frames(b, 1, 0))
    assert not np.array_equal(_frames(a, 1, 0), _frames(c, 1, 0))


def test_bad_generator_options(tmp_path):
    with pytest.raises(TypeError, match="unknown synthetic-hands option 'frames'"):
        generate_synthetic_hands(str(tmp_path / 'x'), frames=3)
    with pytest.raises(ValueError, match='val_fraction=0.0 leaves no train or no val'):
        generate_synthetic_hands(str(tmp_path / 'y'), val_fraction=0.0)


def test_ensure_generates_once_and_never_touches_existing_data(tmp_path):
    root = str(tmp_path / 'gen')
    ensure_synthetic_hands(root, num_sequences=2, num_cameras=1, clip_length=3, size=16)
    assert osp.isfile(osp.join(root, 'meta.json'))
    assert os.listdir(tmp_path) == ['gen']  # no temporary folder left
    mtime = os.stat(osp.join(root, 'meta.json')).st_mtime_ns
    ensure_synthetic_hands(root, num_sequences=2, num_cameras=1, clip_length=3, size=16)
    assert os.stat(osp.join(root, 'meta.json')).st_mtime_ns == mtime
    user = tmp_path / 'my_videos'
    user.mkdir()
    ensure_synthetic_hands(str(user))
    assert os.listdir(user) == []


def test_dataset_generates_missing_default_data(tmp_path):
    from vidreg_mm.datasets import VideoFramePairDataset
    root = str(tmp_path / 'auto')
    ds = VideoFramePairDataset(root, generate_if_missing=dict(
        num_sequences=2, num_cameras=1, clip_length=4, size=16, val_fraction=0.5))
    assert ds.resolved_source == 'handco' and ds.num_clips == 1


def test_cli_tools_write_data_and_a_pair_grid(tmp_path):
    mods = {name: load_tool(f'tools/data/{name}.py')
            for name in ('make_synthetic_hands', 'browse_pairs')}
    root = str(tmp_path / 'cli')
    mods['make_synthetic_hands'].main([root, '--num-sequences', '3', '--num-cameras', '1',
                                       '--clip-length', '5', '--size', '24'])
    assert len(os.listdir(osp.join(root, 'rgb'))) == 3
    with pytest.raises(SystemExit, match='already exists'):
        mods['make_synthetic_hands'].main([root])
    out = str(tmp_path / 'pairs.png')
    mods['browse_pairs'].main(['--data-root', root, '--num', '5', '--cols', '2', '--size', '32',
                               '--out', out])
    grid = cv2.imread(out)
    # 3 rows (2 + 2 + 1 pairs), each pair 2 tiles of 32 px plus a 4 px gap
    assert grid.shape == (3 * 32, 2 * (2 * 32 + 4), 3)


def test_the_articulation_preset_keeps_the_fingers_and_fixes_the_rest(tmp_path):
    """preset='articulation': the same joint-angle trajectories as the varied data of the
    seed, one camera, one plain background, one skin tone, no object, and a hand that fills
    more of the frame; the frames still change with the fingers."""
    from vidreg_mm.datasets import synthetic_hands_poses
    from vidreg_mm.datasets.synthetic_hands import ARTICULATION_BACKGROUND
    kw = dict(num_sequences=4, clip_length=8, size=48, seed=2)
    assert np.array_equal(synthetic_hands_poses(**kw, preset='articulation', num_cameras=1),
                          synthetic_hands_poses(**kw))
    root = str(tmp_path / 'a')
    _, meta = generate_synthetic_hands(root, **kw, preset='articulation', num_cameras=1)
    assert all(os.listdir(osp.join(root, 'rgb', f'{s:04d}')) == ['cam0'] for s in range(4))
    assert all(set(v) == {-1} for v in meta['object_id'])
    frames = np.stack([_frames(root, s, 0) for s in range(4)]).astype(int)  # 4 x 8 x H x W x 3
    corners = frames[:, :, 0, [0, -1]]  # (the palm may reach the bottom row)
    off = np.abs(corners - ARTICULATION_BACKGROUND).max(-1)  # (a fingertip may graze them)
    assert np.median(off) <= 2 and (off <= 4).mean() > 0.75  # plain, the same everywhere
    hand = np.abs(frames - ARTICULATION_BACKGROUND).max(-1) > 20
    rows = hand.any(-1)  # 4 x 8 x H: rows the hand reaches
    height = (rows.shape[-1] - rows.argmax(-1) - rows[..., ::-1].argmax(-1)) / rows.shape[-1]
    assert hand.mean() > 0.22 and height.mean() > 0.6  # the hand fills the frame
    skin = np.stack([np.median(frames[s][hand[s]], axis=0) for s in range(4)])
    assert np.ptp(skin, axis=0).max() <= 10  # one skin tone across sequences
    step = np.abs(np.diff(frames, axis=1)).mean()
    assert step > 0.5  # the fingers (and a little wrist) move
    with pytest.raises(ValueError, match="'articulation' preset has one fixed camera"):
        generate_synthetic_hands(str(tmp_path / 'x'), preset='articulation', num_cameras=2)
    with pytest.raises(ValueError, match="preset must be one of \\('varied', 'articulation'\\)"):
        generate_synthetic_hands(str(tmp_path / 'y'), preset='plain')
    tool = load_tool('tools/data/make_synthetic_hands.py')
    tool.main([str(tmp_path / 'cli'), '--preset', 'articulation', '--num-sequences', '2',
               '--clip-length', '3', '--size', '16'])
    assert os.listdir(tmp_path / 'cli' / 'rgb' / '0001') == ['cam0']


def test_the_articulation_view_is_set_by_its_keys_and_only_for_that_preset():
    """camera_pitch, hand_scale and hand_center_y set the articulation preset's fixed view:
    the frames change, the joint angles do not; None is the preset's view."""
    from vidreg_mm.datasets import synthetic_hands_poses
    from vidreg_mm.datasets.synthetic_hands import (ARTICULATION_VIEW, _draw_sequences,
                                                    _resolve_config, render_frame)
    kw = dict(num_sequences=2, clip_length=4, size=32, num_cameras=1, preset='articulation')

    def frame(**view):
        seqs, _ = _draw_sequences(_resolve_config(**kw, **view))
        return render_frame(seqs[0], 2, 0, 32).astype(int)

    assert np.array_equal(frame(), frame(**ARTICULATION_VIEW))
    for key, value in (('camera_pitch', -0.2), ('hand_scale', 0.4), ('hand_center_y', 0.7)):
        assert np.abs(frame(**{key: value}) - frame()).max() > 50, key
        assert np.array_equal(synthetic_hands_poses(**kw, **{key: value}),
                              synthetic_hands_poses(**kw)), key
    with pytest.raises(ValueError, match="camera_pitch set the 'articulation' preset's fixed "
                       "view; preset is 'varied'"):
        _resolve_config(camera_pitch=-0.2)


def test_the_articulation_dataset_config_holds_64_train_and_16_val_hands():
    from mmengine.config import Config

    from vidreg_mm.datasets.synthetic_hands import _draw_sequences, _resolve_config

    from .conftest import ROOT
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets',
                                   'synthetic_hands_articulation.py'))
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.data_root == 'data/synthetic_hands_articulation'
        options = _resolve_config(**dataset.generate_if_missing)
        assert options.preset == 'articulation' and options.num_cameras == 1
    seqs, val_ids = _draw_sequences(options)
    assert (len(seqs) - len(val_ids), len(val_ids)) == (64, 16)

"""Joint angles of the synthetic hands, the pose regressor, its feature extractor, and the
pose-diversity benchmark's regressor training and evaluator."""
import hashlib

import numpy as np
import pytest
import torch
from mmengine.config import Config

from vidreg_mm.datasets import (CURL_NAMES, POSE_NAMES, finger_curls, sample_synthetic_hand_frames,
                                synthetic_hands_poses)
from vidreg_mm.evaluation import HandPoseRegressor, PoseRegressorFeatures
from vidreg_mm.evaluation.pose import load_pose_regressor, save_pose_regressor

from .conftest import ROOT, TINY
from benchmarks import pose_diversity, pose_regressor


def test_poses_of_every_frame_in_range_smooth_and_seeded():
    poses = synthetic_hands_poses(**TINY)
    assert poses.shape == (TINY['num_sequences'], TINY['clip_length'], len(POSE_NAMES)) == \
        (4, 6, 20)
    flexion, abduction = poses[..., :15], poses[..., 15:]
    assert flexion.min() >= 0 and flexion.max() <= 1.3 + 1e-9
    assert np.abs(abduction).max() <= 0.15 + 1e-9
    # each angle sweeps its range over a clip; neighbouring frames are close
    long = synthetic_hands_poses(num_sequences=2, clip_length=32)
    step = np.abs(np.diff(long, axis=1)).mean()
    assert step < 0.1 * np.abs(long[:, -1] - long[:, 0]).mean() + 0.1 * 1.3
    assert np.allclose(long[..., :15].max(1), 1.3) and np.allclose(long[..., :15].min(1), 0)
    assert np.array_equal(poses, synthetic_hands_poses(**TINY))
    assert not np.array_equal(poses, synthetic_hands_poses(**dict(TINY, seed=4)))
    with pytest.raises(TypeError, match="unknown synthetic-hands option 'frames'"):
        synthetic_hands_poses(frames=3)


def _regressor(path, names=POSE_NAMES, seed=0):
    torch.manual_seed(seed)
    model = HandPoseRegressor(num_angles=len(names), input_size=32)
    mean, std = torch.arange(len(names)).float(), torch.full((len(names),), 2.0)
    save_pose_regressor(str(path), model, dict(num_angles=len(names), input_size=32), names,
                        mean, std, dict(note='test'))
    return model.eval()


def test_regressor_file_round_trip_and_extractor_outputs(tmp_path):
    path = tmp_path / 'reg.pth'
    model = _regressor(path)
    loaded, ckpt = load_pose_regressor(str(path))
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(loaded(images), model(images))
    assert ckpt['angle_names'] == list(POSE_NAMES) and ckpt['report'] == dict(note='test')
    assert not (tmp_path / 'reg.pth.tmp').exists()
    feats = PoseRegressorFeatures(str(path))
    assert feats(images).shape == (5, 256)
    assert torch.equal(feats(images), model.features(images))
    angles = PoseRegressorFeatures(str(path), 'angles', angles=['flexion_f1_j0', 'abduction_f4'])
    assert torch.equal(angles(images), model(images)[:, [3, 19]])
    assert angles.name == f'PoseRegressor(reg.pth@{angles.digest},2 angles)'
    # batching does not change features (eval-mode batch norm)
    assert torch.allclose(torch.cat([feats(images[:2]), feats(images[2:])]), feats(images),
                          atol=1e-5)
    # larger inputs are resized to the regressor's size
    assert feats(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape == (2, 256)


def test_regressor_errors_name_the_file_and_the_option(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pth does not exist.*pose_diversity'):
        PoseRegressorFeatures(str(tmp_path / 'nowhere.pth'))
    _regressor(tmp_path / 'reg.pth')
    with pytest.raises(ValueError, match="output must be 'features' or 'angles', got 'pose'"):
        PoseRegressorFeatures(str(tmp_path / 'reg.pth'), output='pose')
    with pytest.raises(ValueError, match=r"angles \['thumb'\] are not predicted by .*reg.pth"):
        PoseRegressorFeatures(str(tmp_path / 'reg.pth'), 'angles', angles=['thumb'])
    torch.save(dict(state_dict={}), str(tmp_path / 'other.pth'))
    with pytest.raises(ValueError, match=r'other.pth is not a pose regressor checkpoint'):
        PoseRegressorFeatures(str(tmp_path / 'other.pth'))


def test_finger_curls_and_frames_drawn_without_a_dataset():
    poses = synthetic_hands_poses(**TINY)
    curls = finger_curls(poses)
    assert curls.shape == (4, 6, 5) and len(CURL_NAMES) == 5
    assert np.allclose(curls[1, 2, 3], poses[1, 2, 9:12].sum())  # ring finger, joints 0..2
    assert torch.allclose(finger_curls(torch.as_tensor(poses)), torch.as_tensor(curls))
    frames, drawn = sample_synthetic_hand_frames(3, 2, seed=7, size=32, clip_length=6)
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8
    assert drawn.shape == (6, 20) and drawn[:, :15].min() >= 0 and drawn[:, :15].max() <= 1.3
    again, drawn_again = sample_synthetic_hand_frames(3, 2, seed=7, size=32, clip_length=6)
    assert np.array_equal(frames, again) and np.array_equal(drawn, drawn_again)
    assert not np.array_equal(frames, sample_synthetic_hand_frames(3, 2, seed=8, size=32,
                                                                   clip_length=6)[0])
    assert frames.std() > 10  # hands on a background, not blank frames
    with pytest.raises(ValueError, match=r'frames_per_sequence=7 must be in \[1, clip_length=6'):
        sample_synthetic_hand_frames(1, 7, seed=0, clip_length=6)
    # processes render the same frames in the same order
    parallel = sample_synthetic_hand_frames(3, 2, seed=7, size=32, clip_length=6, workers=2)
    assert np.array_equal(parallel[0], frames) and np.array_equal(parallel[1], drawn)
    with pytest.raises(ValueError, match='workers=0 must be at least 1'):
        sample_synthetic_hand_frames(1, 1, seed=0, clip_length=6, workers=0)


def test_benchmark_trains_a_regressor_that_fits_and_reports_val_accuracy(handco_root,
                                                                       tmp_path):
    config = Config.fromfile(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py')
    config.data_root = handco_root
    args = pose_diversity.parse_args(['--extra-sequences', '4', '--frames-per-sequence', '3',
                                      '--epochs', '12', '--batch-size', '12',
                                      '--work-dir', str(tmp_path)])
    path = str(tmp_path / 'reg.pth')
    report = pose_regressor.train_regressor(args, config, dict(TINY), path)
    assert report['trained_on'][1].startswith('12 frames of 4 hands drawn by the generator')
    assert report['targets'] == list(CURL_NAMES) + list(POSE_NAMES)
    losses = [h['train_loss'] for h in report['history']]
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]
    val = report['val_accuracy']
    assert val['frames'] == 1 * 2 * 6  # one val sequence x 2 cameras x 6 frames
    assert list(val['r2']) == list(val['mae_deg']) == list(CURL_NAMES) + list(POSE_NAMES)
    assert val['min_curl_r2'] == min(val['r2'][n] for n in CURL_NAMES)
    assert pose_regressor.readable_curls(report, val['min_curl_r2']) == list(CURL_NAMES)
    assert pose_regressor.readable_curls(report, 1.01) == []
    assert report['train_accuracy']['frames'] == 3 * 2 * 6 + 12
    # the training frames are fitted: most of their variance is explained
    assert report['train_accuracy']['mean_r2'] > 0.5
    model, ckpt = load_pose_regressor(path)
    assert ckpt['report']['val_accuracy'] == val
    assert ckpt['angle_names'] == list(CURL_NAMES) + list(POSE_NAMES)
    assert model.head.out_features == 25
    # a second call finds the file and does not retrain
    assert pose_regressor.train_regressor(args, config, dict(TINY), path) == ckpt['report']


def test_r2_and_mae_closed_form():
    true = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    r2, mae = pose_regressor.r2_and_mae(true.clone(), true)
    assert r2 == [1.0, 1.0] and mae == [0.0, 0.0]
    r2, mae = pose_regressor.r2_and_mae(true.mean(0).expand(3, 2), true)
    assert r2 == pytest.approx([0.0, 0.0]) and mae == pytest.approx([4 / 3, 4 / 3])


def test_pose_evaluator_builds_metrics_on_the_regressor(tmp_path):
    from mmagic.registry import METRICS
    _regressor(tmp_path / 'reg.pth')
    evaluator = pose_diversity.pose_evaluator(str(tmp_path / 'reg.pth'), ['flexion_f0_j0'], 64)
    assert sorted(evaluator['metrics']) == sorted(
        f'pose_{m}_{s}' for m in ('fd', 'kid', 'diversity') for s in ('train', 'val'))
    fd = METRICS.build(evaluator['metrics']['pose_fd_train'])
    digest = hashlib.sha1((tmp_path / 'reg.pth').read_bytes()).hexdigest()[:8]
    assert fd.real_split == 'train'
    assert fd.extractor_name == f'PoseRegressor(reg.pth@{digest},features)'
    div = METRICS.build(evaluator['metrics']['pose_diversity_val'])
    assert div.real_split is None
    assert div.extractor_name == f'PoseRegressor(reg.pth@{digest},1 angles)'
    # other weights in the same file are another extractor (cached real features are keyed
    # by the name)
    _regressor(tmp_path / 'reg.pth', seed=1)
    again = METRICS.build(evaluator['metrics']['pose_fd_train'])
    assert again.extractor_name != fd.extractor_name


def test_reference_sets_real_blurred_and_noise_frames():
    frames = torch.from_numpy(
        np.random.default_rng(0).integers(0, 256, (10, 3, 32, 32), dtype=np.uint8))
    frames[:, :, :16] = 40  # half of every frame flat, so that blurring changes it little
    sets = pose_diversity.reference_sets(frames, 6, seed=0)
    assert list(sets) == ['real_training_frames', 'blurred_training_frames', 'uniform_noise']
    for images in sets.values():
        assert images.shape == (6, 3, 32, 32) and images.dtype == torch.uint8
    real = sets['real_training_frames']
    assert all(any(torch.equal(r, f) for f in frames) for r in real)  # drawn from the frames
    assert len({r.numpy().tobytes() for r in real}) == 6  # without repetition

    def roughness(x):
        return (x[..., 1:, :].float() - x[..., :-1, :].float()).abs().mean()

    assert roughness(sets['blurred_training_frames']) < 0.5 * roughness(real)
    assert torch.equal(pose_diversity.reference_sets(frames, 6, seed=0)['uniform_noise'],
                       sets['uniform_noise'])


def test_reference_scores_rank_noise_far_below_real_frames(handco_root, tmp_path):
    config = Config.fromfile(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py')
    config.data_root = handco_root
    args = pose_diversity.parse_args(['--extra-sequences', '4', '--frames-per-sequence', '3',
                                      '--epochs', '12', '--batch-size', '12'])
    pose_regressor.train_regressor(args, config, dict(TINY), str(tmp_path / 'reg.pth'))
    scores = pose_diversity.reference_scores(config, dict(TINY), str(tmp_path / 'reg.pth'),
                                             ['curl_thumb', 'curl_index'], 16)
    real, noise = scores['real_training_frames'], scores['uniform_noise']
    assert set(scores) == {'real_training_frames', 'blurred_training_frames', 'uniform_noise'}
    assert real['PoseDiversity-train/precision'] == 1.0  # samples that are training frames
    # against the training frames (the tiny val split, one hand, is too small to rank sets)
    assert noise['PoseFD-train/fid'] > 3 * real['PoseFD-train/fid']
    assert noise['PoseKID-train/kid'] > real['PoseKID-train/kid']
    assert noise['PoseDiversity-train/recall'] < real['PoseDiversity-train/recall']
    assert noise['PoseDiversity-train/coverage'] < real['PoseDiversity-train/coverage']


def test_a_regressor_scores_nothing_unless_every_curl_is_read(tmp_path):
    path = str(tmp_path / 'reg.pth')
    names = list(CURL_NAMES)
    r2 = dict(zip(names, [0.9, 0.85, 0.95, 0.81, 0.79]))
    save_pose_regressor(path, HandPoseRegressor(num_angles=5), dict(num_angles=5), names,
                        torch.zeros(5), torch.ones(5), dict(val_accuracy=dict(r2=r2)))
    report, curls = pose_regressor.checked_regressor(path, 0.75)
    assert curls == names and report['val_accuracy']['r2'] == r2
    with pytest.raises(SystemExit, match=r"reads only \['curl_thumb', 'curl_index', "
                       r"'curl_middle', 'curl_ring'\] with val R\^2 >= 0.8"):
        pose_regressor.checked_regressor(path, 0.8)

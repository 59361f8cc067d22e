"""Records of finished benchmark runs: a study resumes from them when its work dirs are gone,
and refuses a record of other settings."""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from .conftest import ROOT
from benchmarks import convergence, records, runs

CONFIGS = dict(baseline=f'{ROOT}/configs/synthetic_hands_baseline_cpu.py',
               temporal=f'{ROOT}/configs/synthetic_hands_temporal_cpu.py')


def fake_run(work_dir, iters: int, scale: float) -> None:
    """What a finished run leaves that a record reads: logged metrics and step times, and the
    sample grid of its last evaluation."""
    os.makedirs(osp.join(work_dir, '20260101_000000', 'vis_data'))
    os.makedirs(osp.join(work_dir, 'samples'))
    with open(osp.join(work_dir, '20260101_000000', 'vis_data', 'scalars.json'), 'w') as f:
        f.write(json.dumps({'step': 1, 'time': 0.25}) + '\n')
        for step in range(1, iters + 1):
            f.write(json.dumps({'step': step, **{m: scale * (10 - step)
                                                 for m in runs.CURVE_METRICS}}) + '\n')
    grid = np.full((138, 138, 3), int(100 * scale), np.uint8)
    cv2.imwrite(osp.join(work_dir, 'samples', f'iter_{iters}.png'), grid)


def test_a_record_stands_in_for_its_run_and_refuses_other_settings(tmp_path):
    work, path = str(tmp_path / 'run'), str(tmp_path / 'records' / 'baseline_seed0.json')
    fake_run(work, 3, 1.0)
    opts = ['randomness.seed=0', 'train_cfg.max_iters=3']
    assert records.read_record(path, CONFIGS['baseline'], opts, 3) is None  # none yet
    os.makedirs(osp.dirname(path))
    written = records.write_record(path, CONFIGS['baseline'], opts, 3, work, 61.0)
    assert written['seconds_per_step'] == 0.25 and written['train_seconds'] == 61.0
    assert osp.isfile(records.sample_grid(path))
    read = records.read_record(path, CONFIGS['baseline'], opts, 3)
    assert records.recorded_curves(read)['FID-train/fid'] == {1: 9.0, 2: 8.0, 3: 7.0}
    with pytest.raises(ValueError, match=r'baseline_seed0\.json records a run of other '
                       r"settings \(options: .*'randomness\.seed=1'"):
        records.read_record(path, CONFIGS['baseline'], ['randomness.seed=1', opts[1]], 3)
    with pytest.raises(ValueError, match='iters: recorded 3, now 4'):
        records.read_record(path, CONFIGS['baseline'], opts, 4)
    # the same path, another content (an edited config): its resolved fingerprint differs
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f"_base_ = [{CONFIGS['baseline']!r}]\n")
    records.write_record(path, str(cfg), opts, 3, work, 61.0)
    assert records.read_record(path, str(cfg), opts, 3) is not None
    cfg.write_text(f"_base_ = [{CONFIGS['baseline']!r}]\noptim_wrapper = dict("
                   "optimizer=dict(lr=2e-3))\n")
    with pytest.raises(ValueError, match='config_sha256: recorded'):
        records.read_record(path, str(cfg), opts, 3)
    # a file the run read besides its config (the pose regressor): recorded by content
    # (of a torch file its tensors: the report it holds besides, with timings, may differ)
    import torch
    reg = tmp_path / 'regressor.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(3)), report=dict(minutes=1.0)), reg)
    records.write_record(path, str(cfg), opts, 3, work, 61.0, dict(pose_regressor=str(reg)))
    torch.save(dict(state_dict=dict(w=torch.ones(3)), report=dict(minutes=2.5)), reg)
    assert records.read_record(path, str(cfg), opts, 3, dict(pose_regressor=str(reg)))
    torch.save(dict(state_dict=dict(w=torch.tensor([1.0, 1.0, 1.001])),
                    report=dict(minutes=1.0)), reg)
    with pytest.raises(ValueError, match='inputs_sha256: recorded'):
        records.read_record(path, str(cfg), opts, 3, dict(pose_regressor=str(reg)))
    with pytest.raises(ValueError, match='inputs_sha256'):
        records.read_record(path, str(cfg), opts, 3)
    # an input named per run (a copy of the regressor trained in another session) may differ
    # in content, not be missing: the caller pairs the runs scored by one copy
    read = records.read_record(path, str(cfg), opts, 3, dict(pose_regressor=str(reg)),
                               per_run=('pose_regressor', ))
    assert read['inputs_sha256']['pose_regressor'] != records.file_fingerprints(
        dict(pose_regressor=str(reg)))['pose_regressor']
    records.write_record(path, str(cfg), opts, 3, work, 61.0, extra=dict(pose=dict(a=1)))
    with pytest.raises(ValueError, match='inputs_sha256: recorded {}'):
        records.read_record(path, str(cfg), opts, 3, dict(pose_regressor=str(reg)),
                            per_run=('pose_regressor', ))
    assert records.read_record(path, str(cfg), opts, 3)['pose'] == dict(a=1)
    records.write_record(path, str(cfg), opts, 3, work, 61.0)
    os.remove(records.sample_grid(path))
    with pytest.raises(FileNotFoundError, match='its sample grid'):
        records.read_record(path, str(cfg), opts, 3)


def test_a_study_trains_only_the_runs_it_has_no_record_of(handco_root, tmp_path, monkeypatch):
    """The second invocation, its work dirs gone, trains nothing and reports the same
    curves; a run without a record is trained and recorded."""
    trained = []

    def train(config, work_dir, options, iters):
        trained.append(osp.basename(work_dir))
        fake_run(work_dir, iters, 1.0 if 'baseline' in work_dir else 0.8)
        return 12.0
    monkeypatch.setattr(records, 'train', train)
    argv = ['--baseline-config', CONFIGS['baseline'], '--temporal-config',
            CONFIGS['temporal'], '--data-root', handco_root, '--seeds', '0', '--iters', '3',
            '--eval-interval', '1', '--grad-var-iters', '--work-dir', str(tmp_path / 'work'),
            '--out', str(tmp_path / 'study.json')]
    first = convergence.main(argv)
    assert trained == ['baseline_seed0', 'temporal_seed0']
    assert first['records'] == str(tmp_path / 'study_runs')
    assert sorted(os.listdir(tmp_path / 'study_runs')) == [
        'baseline_seed0.json', 'baseline_seed0_samples.png', 'temporal_seed0.json',
        'temporal_seed0_samples.png']
    assert first['final_gap']['FID-train/fid']['baseline_minus_temporal']['0'] == \
        pytest.approx(7.0 - 0.8 * 7.0)
    shutil.rmtree(tmp_path / 'work')
    os.remove(tmp_path / 'study_runs' / 'temporal_seed0.json')
    second = convergence.main(argv)
    assert trained[2:] == ['temporal_seed0']  # the baseline came from its record
    assert second['curves'] == first['curves']
    assert second['train_seconds'] == first['train_seconds']
    assert osp.isfile(tmp_path / 'study_samples.png')
    other = list(argv)
    other[other.index('--iters') + 1] = '2'
    with pytest.raises(ValueError, match='baseline_seed0.json records a run of other'):
        convergence.main(other)


def test_both_runs_of_a_seed_are_scored_by_one_copy_of_the_pose_regressor():
    """Each session trains the regressor again (its weights differ in the last bits from
    machine to machine): a seed recorded with another copy is taken with that copy's
    references, a pair that would mix two copies is refused before anything trains."""
    now = dict(regressor_sha256='a' * 64, val_accuracy=dict(min_curl_r2=0.85),
               references_in_place_of_samples=dict(real=1.0))
    assert set(now) == set(convergence.POSE_ENTRY)
    paths = dict(baseline='b.json', temporal='t.json')
    entry = convergence.seed_pose(dict(baseline=None, temporal=None), now, paths)
    assert entry == now

    def rec(sha, pose=True):
        out = dict(inputs_sha256=dict(pose_regressor=sha))
        if pose:
            out['pose'] = dict(regressor_sha256=sha, val_accuracy=dict(min_curl_r2=0.82),
                               references_in_place_of_samples=dict(real=2.0))
        return out
    assert convergence.seed_pose(dict(baseline=rec('a' * 64, False), temporal=None), now,
                                 paths) == entry
    old = convergence.seed_pose(dict(baseline=rec('b' * 64), temporal=rec('b' * 64)), now,
                                paths)
    assert old['regressor_sha256'] == 'b' * 64 and old['references_in_place_of_samples'] == \
        dict(real=2.0)
    with pytest.raises(ValueError, match=r'different copies .*b\.json: bbbbbbbbbbbb, t\.json: '
                       r'aaaaaaaaaaaa \(to train now\)'):
        convergence.seed_pose(dict(baseline=rec('b' * 64), temporal=None), now, paths)
    with pytest.raises(ValueError, match='different copies'):
        convergence.seed_pose(dict(baseline=rec('b' * 64), temporal=rec('c' * 64)), now, paths)
    with pytest.raises(ValueError, match='do not record'):
        convergence.seed_pose(dict(baseline=rec('b' * 64, False), temporal=rec('b' * 64)),
                              now, paths)

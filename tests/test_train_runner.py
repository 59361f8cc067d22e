"""Short CPU trainings of the shipped configs through tools/train.py and MMEngine's Runner."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch

from .conftest import ROOT, load_tool

METRICS = ('fid_train', 'fid_val', 'kid_train', 'kid_val', 'diversity_train', 'diversity_val',
           'roughness')
FEATURE_METRICS = METRICS[:-1]


def load_train_tool():
    return load_tool('tools/train.py')


def small_eval(data_root):
    """Options that point every loader at ``data_root`` and shrink sampling and the metrics
    (random features instead of Inception), each hook and metric by its name."""
    opts = ['model.num_sample_steps=2', 'default_hooks.sample_grid.num_samples=2',
            'default_hooks.sample_grid.num_steps=2']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.dataset.data_root={data_root}',
                 f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    for split in ('val', 'test'):
        opts += [f'{split}_dataloader.batch_size=4'] + [
            f'{split}_evaluator.metrics.{name}.fake_nums=8' for name in METRICS] + [
            f'{split}_evaluator.metrics.{name}.feature_extractor.type=RandomConvFeatures'
            for name in FEATURE_METRICS]  # fast offline features
    return opts


def train(config, work_dir, data_root, iters=20, batch=4, extra=()):
    args = [osp.join(ROOT, 'configs', config), '--work-dir', str(work_dir), '--cfg-options',
            f'train_cfg.max_iters={iters}', f'train_dataloader.batch_size={batch}',
            'default_hooks.logger.interval=5', f'default_hooks.checkpoint.interval={iters}',
            *small_eval(data_root), *extra]
    return load_train_tool().main(args)


def logged(runner):
    path = osp.join(runner.log_dir, 'vis_data', 'scalars.json')
    return [json.loads(line) for line in open(path)]


@pytest.mark.parametrize('config, batch, pairs', [
    ('synthetic_hands_temporal_cpu.py', 4, True),
    ('synthetic_hands_baseline_cpu.py', 8, False),
    ('synthetic_hands_unet2d_temporal_cpu.py', 4, True),
    ('synthetic_hands_flow_temporal_cpu.py', 4, True),
    ('synthetic_hands_flow_baseline_cpu.py', 8, False),
    ('synthetic_hands_clip3_temporal_cpu.py', 3, True),
])
def test_twenty_iterations_train_log_and_checkpoint(config, batch, pairs, handco_root,
                                                    tmp_path, capsys):
    runner = train(config, tmp_path, handco_root, batch=batch)
    assert runner.iter == 20
    records = logged(runner)
    evaluation = [r for r in records if 'FID-train/fid' in r]
    records = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in records] == [5, 10, 15, 20]
    # FID against the train frames and against the val frames, at the end of training
    assert len(evaluation) == 1 and evaluation[0]['step'] == 20, evaluation
    for key in ('FID-train/fid', 'FID-val/fid', 'KID-train/kid', 'KID-val/kid_std',
                'Roughness/roughness', 'Roughness/real_roughness'):
        assert math.isfinite(evaluation[0][key]), key
    for r in records:
        for key in ('loss', 'loss_simple', 'loss_temporal', 'temporal_lambda'):
            assert math.isfinite(r[key]), (key, r)
        assert math.isclose(r['loss'], r['loss_simple'] + r['loss_temporal'], rel_tol=1e-4)
    assert records[-1]['temporal_lambda'] == pytest.approx(0.3 if pairs else 0.0)

    ckpt_path = osp.join(tmp_path, 'iter_20.pth')
    checkpoint = torch.load(ckpt_path)  # torch's default: weights_only=True
    assert {'state_dict', 'ema_state_dict', 'optimizer', 'message_hub'} <= set(checkpoint)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(ckpt_path) == []

    # the checkpoint loads into a freshly built model, whose samples then match the EMA model
    from mmagic.registry import MODELS
    from mmengine.runner import load_checkpoint
    fresh = MODELS.build(runner.cfg.model)
    load_checkpoint(fresh, ckpt_path, map_location='cpu', strict=True)
    ema = [h for h in runner.hooks if type(h).__name__ == 'EMAHook'][0].ema_model.module
    assert torch.equal(fresh.infer(num_samples=2, num_steps=2), ema.infer(num_samples=2,
                                                                           num_steps=2))

    out = capsys.readouterr().out
    assert f'checkpoint:  {ckpt_path}' in out
    grid = osp.join(tmp_path, 'samples', 'iter_20.png')
    assert f'samples:     {grid}' in out and osp.isfile(grid)
    # the same grid went through MMEngine's visualizer (LocalVisBackend here; TensorBoard alike)
    logged_grid = osp.join(runner.log_dir, 'vis_data', 'vis_image', 'samples_20.png')
    import cv2
    assert np.array_equal(cv2.imread(logged_grid), cv2.imread(grid))
    # and to TensorBoard: the losses, the metrics and the grid
    import glob

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = glob.glob(osp.join(runner.log_dir, 'vis_data', '**', 'events.out.tfevents.*'),
                       recursive=True)
    assert len(events) == 1, events
    board = EventAccumulator(osp.dirname(events[0])).Reload()
    assert {'loss', 'FID-val/fid', 'KID-train/kid'} <= set(board.Tags()['scalars'])
    assert board.Scalars('FID-val/fid')[0].value == pytest.approx(evaluation[0]['FID-val/fid'])
    assert 'samples' in board.Tags()['images']
    # the best checkpoint by validation FID is kept (weights only) and loads
    best = osp.join(tmp_path, 'best_FID-val_fid_iter_20.pth')
    assert osp.isfile(best)
    load_checkpoint(MODELS.build(runner.cfg.model), best, map_location='cpu', strict=True)


def test_resume_continues_from_a_checkpoint(handco_root, tmp_path):
    first = train('synthetic_hands_temporal_cpu.py', tmp_path, handco_root, iters=10,
                  extra=['default_hooks.checkpoint.interval=5'])
    assert osp.isfile(osp.join(tmp_path, 'iter_5.pth'))
    resumed = load_train_tool().main([
        osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py'), '--work-dir',
        str(tmp_path / 'resumed'), '--resume', osp.join(tmp_path, 'iter_5.pth'),
        '--cfg-options', 'train_cfg.max_iters=10', 'train_dataloader.batch_size=4',
        'default_hooks.logger.interval=5', *small_eval(handco_root)
    ])
    assert resumed.iter == 10
    # only the iterations after iter 5
    assert [r['iter'] for r in logged(resumed) if 'loss' in r] == [10]
    # the optimizer state came back: Adam's step count continues from 5
    state = resumed.optim_wrapper.optimizer.state_dict()['state']
    assert int(next(iter(state.values()))['step']) == 10
    assert first.iter == 10


def test_test_tool_reports_fid_on_both_splits_with_the_extractor(handco_root, tmp_path,
                                                                  capsys):
    train('synthetic_hands_temporal_cpu.py', tmp_path, handco_root, iters=5)
    tool = load_tool('tools/test.py')
    out = str(tmp_path / 'report.json')
    metrics = tool.main([osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py'),
                         osp.join(tmp_path, 'iter_5.pth'), '--work-dir', str(tmp_path / 't'),
                         '--out', out, '--cfg-options', *small_eval(handco_root)])
    report = json.load(open(out))
    assert set(report['metrics']) >= {'FID-train/fid', 'FID-val/fid', 'Diversity-train/recall',
                                      'Diversity-val/coverage', 'Diversity-val/precision',
                                      'KID-train/kid', 'KID-val/kid', 'KID-val/kid_std',
                                      'Roughness/roughness_ratio'}
    assert report['metrics']['FID-train/fid'] == pytest.approx(metrics['FID-train/fid'])
    name = 'RandomConvFeatures(seed=0,input_size=64,dim=128)'
    assert report['feature_extractors'] == {p: name for p in (
        'FID-train', 'FID-val', 'KID-train', 'KID-val', 'Diversity-train', 'Diversity-val')}
    assert 'FID-val features: RandomConvFeatures' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='does not exist'):
        tool.main([osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py'),
                   str(tmp_path / 'missing.pth')])
    # a checkpoint of another config (a wider network) is refused, with the keys listed
    with pytest.raises(SystemExit, match=r'(?s)iter_5.pth does not match the model of this '
                       r'config:.*mis_shaped \(\d+\): .*: \(32, 3, 3, 3\) != \(48, 3, 3, 3\)'
                       r'.*--allow-mismatch'):
        tool.main([osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py'),
                   osp.join(tmp_path, 'iter_5.pth'), '--work-dir', str(tmp_path / 't2'),
                   '--cfg-options', 'model.unet.base_channels=48', *small_eval(handco_root)])


def test_the_cpu_recipe_logs_the_losses_it_logged_before_the_clip_axis(tmp_path):
    """20 steps of the CPU recipe as it was then (w(t) = SNR, lambda = 1, shared noise) on its
    own data (seed 0) against the losses recorded with the frame-major batches, the
    model-owned schedule and the loss-side prediction type (tests/data/). What differs is
    float rounding: diffusers' DDPMScheduler computes the cumulative schedule in float32 (it
    was float64), and the reductions run in another order; docs/training.md says so."""
    reference = json.load(open(osp.join(ROOT, 'tests', 'data',
                                        'cpu_recipe_losses_before_clip_axis.json')))['losses']
    data_root = str(tmp_path / 'synthetic_hands')  # generated as the recipe does
    runner = load_train_tool().main([
        osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py'), '--work-dir',
        str(tmp_path / 'run'), '--cfg-options', 'train_cfg.max_iters=20',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'randomness.deterministic=True', 'model.loss.weight=snr',  # the recipe then:
        'model.loss.lambda_reg=1.0', 'model.loss.share_noise=True',  # SNR, lambda 1, shared
        *[o for o in small_eval(data_root) if not any(
            o.startswith(f'{s}_dataloader.{k}') for s in ('train', 'val', 'test')
            for k in ('num_workers', 'persistent_workers'))]])
    logged_now = {str(r['iter']): r for r in logged(runner) if 'loss' in r}
    assert sorted(logged_now, key=int) == [str(i) for i in range(1, 21)]
    for it, before in reference.items():
        now = logged_now[it]
        assert now['loss'] == pytest.approx(before['loss'], rel=1e-5), it
        assert now['loss_simple'] == pytest.approx(before['loss_simple'], rel=1e-5), it
        assert now['loss_temporal'] == pytest.approx(before['loss_temporal'], rel=1e-3,
                                                     abs=1e-9), it


def test_two_runs_of_one_config_started_in_one_second_keep_their_own_logs(tmp_path,
                                                                          monkeypatch):
    """MMEngine names a run's visualizer, logger and message hub after the config and the
    second it started, and hands back an existing instance of that name: the second run of a
    config in a process must still get its own (it logged into the first run's work dir)."""
    import argparse
    import time

    from vidreg_mm.run_config import build_runner, load_run_config
    monkeypatch.setattr(time, 'time', lambda: 1_800_000_000.0)  # one second for both
    runners = []
    for k in range(2):
        args = argparse.Namespace(
            config=osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py'),
            launcher='none', work_dir=str(tmp_path / f'run{k}'),
            cfg_options={'data_root': str(tmp_path / 'data')})
        runners.append(build_runner(load_run_config(args)))
    first, second = runners
    assert first.timestamp == second.timestamp
    assert second.experiment_name != first.experiment_name
    for attr in ('visualizer', 'message_hub', 'logger'):
        assert getattr(second, attr) is not getattr(first, attr), attr
    for runner in runners:
        backend = runner.visualizer.get_backend('LocalVisBackend')
        assert backend._save_dir.startswith(runner.log_dir), (backend._save_dir, runner.log_dir)


def test_one_key_retargets_every_split_and_a_mixed_config_says_so(tmp_path, mmlog):
    import argparse

    from mmengine.logging import MMLogger

    from vidreg_mm.run_config import load_run_config, log_data_roots
    config = osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py')
    args = argparse.Namespace(config=config, launcher='none', work_dir=None,
                              cfg_options={'data_root': str(tmp_path / 'mine')})
    cfg = load_run_config(args)
    for name in ('train', 'val', 'test'):
        dataset = cfg[f'{name}_dataloader'].dataset
        assert dataset.data_root == str(tmp_path / 'mine')
        assert dataset.generate_if_missing is None  # a wrong path is an error, not new data
    logger = MMLogger.get_current_instance()
    log_data_roots(cfg, logger)
    assert not any('evaluation data differs' in m for m in mmlog)
    args.cfg_options = {'train_dataloader.dataset.data_root': str(tmp_path / 'mine')}
    log_data_roots(load_run_config(args), logger)
    assert any(f'evaluation data differs from the training data ({tmp_path}/mine): '
               'val_dataloader reads data/synthetic_hands, test_dataloader reads '
               'data/synthetic_hands; to retarget every split at once use --cfg-options '
               'data_root=DIR' in m for m in mmlog)

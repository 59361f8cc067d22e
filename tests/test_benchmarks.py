"""The benchmarks' arithmetic and report, on curves with known answers (no training)."""
import json
import os
import os.path as osp
import re

import cv2
import pytest
from mmengine.config import Config

from vidreg_mm.convergence import iterations_to, speedup, speedups_along

from .conftest import ROOT
from benchmarks import (ablation, comparison, convergence, figures, index_scale, plateau,
                        pose_diversity, pose_regressor, runs, shot_detection, step_overhead)


def test_speedup_is_sustained_and_interpolated_between_evaluations():
    base = {100: 9.0, 200: 6.0, 300: 5.0, 400: 4.0}
    temp = {100: 7.0, 200: 3.9, 300: 3.0, 400: 2.5}
    res = speedup(base, temp)
    assert res['target'] == 4.0 and res['baseline_iters'] == 400
    # the segment 100 -> 200 (7.0 -> 3.9) meets 4.0 at 100 + 100 * 3 / 3.1
    assert res['temporal_iters'] == pytest.approx(100 + 300 / 3.1)
    assert res['speedup'] == pytest.approx(400 / (100 + 300 / 3.1))
    assert res['speedup_first_crossing'] == 2.0  # on the evaluation grid
    # a transient dip below the target is a first crossing, not convergence
    dip = {100: 3.5, 200: 4.5, 300: 3.8, 400: 3.0}
    res = speedup(base, dip)
    assert res['temporal_iters_first_crossing'] == 100 and res['speedup_first_crossing'] == 4.0
    assert res['temporal_iters'] == pytest.approx(200 + 100 * 0.5 / 0.7)
    slow = {100: 9.5, 200: 8.0, 300: 6.0, 400: 4.5}
    assert speedup(base, slow)['speedup'] is None  # never reaches it
    # already there at the first evaluation: that evaluation, nothing is known before it
    assert iterations_to({100: 1.0, 200: 0.5}, 2.0, sustained=True, interpolate=True) == 100


def test_speedups_along_the_baseline_curve_and_over_seeds():
    base = {100: 9.0, 200: 6.0, 300: 5.0, 400: 4.0}
    temp = {100: 7.0, 200: 3.9, 300: 3.0, 400: 2.5}
    along = speedups_along(base, temp)
    assert list(along) == [100, 200, 300, 400]
    assert along[100]['speedup'] == 1.0  # both at 9.0 or below at their first evaluation
    assert along[200]['speedup'] == pytest.approx(200 / (100 + 100 / 3.1))
    assert along[400] == speedup(base, temp)
    as_logged = (lambda c: {str(k): v for k, v in c.items()})  # noqa: E731
    metrics = list(convergence.SPEEDUP_METRICS)
    curves = dict(baseline={s: {m: as_logged(base) for m in metrics} for s in '01'},
                  temporal={'0': {m: as_logged(temp) for m in metrics},
                            '1': {m: as_logged({**temp, 400: 4.5}) for m in metrics}})
    report = comparison.summarize_speedups(curves, [0, 1])
    # seed 1 ends above the baseline's final value: not every seed gets there
    assert report['speedup'] is None and report['speedup_min'] is None
    assert report['speedup_per_seed']['1'] is None
    assert report['speedup_kid_val_per_seed']['0'] == pytest.approx(400 / (100 + 300 / 3.1))
    assert report['speedup_fid_val_at_targets']['200']['min'] == pytest.approx(
        200 / (100 + 100 / 3.1))
    gap = comparison.final_gap(curves, [0, 1], metrics[:1])['FID-train/fid']
    assert gap['baseline_minus_temporal'] == {'0': 1.5, '1': -0.5}
    assert gap['temporal_spread'] == 2.0 and gap['baseline_spread'] == 0.0
    assert comparison.flattened(as_logged(base)) == dict(
        from_iteration=300, relative_change=0.25, flattened=False)
    assert comparison.flattened({'100': 9.0, '200': 4.1, '300': 4.0})['flattened']
    assert not comparison.flattened({'100': 9.0, '200': 4.3, '300': 4.0})['flattened']
    assert comparison.flattened({'100': 9.0, '200': 4.3, '300': 4.0}, 0.1)['flattened']


def test_plateau_changes_over_the_last_third_of_every_budget():
    curve = {'500': 300.0, '1000': 200.0, '1500': 150.0, '2000': 120.0, '2500': 110.0,
             '3000': 105.0}
    changes = plateau.last_third_changes(curve, 500)
    assert list(changes) == [1500, 2000, 2500, 3000]  # three evaluations at least
    assert changes[1500] == dict(from_iteration=1000, relative_change=(200 - 150) / 150)
    assert changes[2000]['from_iteration'] == 1500  # nearest to 1333
    assert changes[3000] == dict(from_iteration=2000, relative_change=(120 - 105) / 105)
    # a rising curve (overfitting) gives a negative change
    assert plateau.last_third_changes({'1': 1.0, '2': 1.0, '3': 2.0}, 1)[3]['relative_change'] \
        == -0.5


def test_a_decaying_schedule_is_judged_by_a_longer_budget():
    def pilot(iters, final, **changes):
        return dict(dict(config='c.py', settings=[], seed=1, fake_nums=256, sample_steps=25,
                         schedule='decays to the budget', iters=iters,
                         curves={'FID-train/fid': {'500': 300.0, str(iters): final}}),
                    **changes)
    flat = plateau.budget_extension(pilot(4000, 70.0), pilot(6000, 68.0), 0.05)
    assert flat == dict(shorter=4000, longer=6000, fid_train={'4000': 70.0, '6000': 68.0},
                        relative_change=pytest.approx(2 / 68), plateau=True)
    falling = plateau.budget_extension(pilot(4000, 80.0), pilot(6000, 68.0), 0.05)
    assert falling['relative_change'] == pytest.approx(12 / 68) and not falling['plateau']
    # a longer run that ends higher: training longer does not help
    worse = plateau.budget_extension(pilot(4000, 68.0), pilot(6000, 80.0), 0.05)
    assert worse['relative_change'] == pytest.approx(-12 / 80) and worse['plateau']
    with pytest.raises(ValueError, match="differ in 'seed' \\(2 against 1\\)"):
        plateau.budget_extension(pilot(4000, 70.0, seed=2), pilot(6000, 68.0), 0.05)
    with pytest.raises(ValueError, match='at a constant rate the budgets are prefixes'):
        plateau.budget_extension(pilot(4000, 70.0, schedule='constant after the warm-up'),
                                 pilot(6000, 68.0, schedule='constant after the warm-up'), 0.05)
    with pytest.raises(ValueError, match=r'its budget \(6000\) is not shorter than 6000'):
        plateau.budget_extension(pilot(6000, 70.0), pilot(6000, 68.0), 0.05)


def test_evaluation_seconds_are_read_from_the_logs_of_every_invocation(tmp_path):
    line = '2026/12/03 {} - mmengine - INFO - {}\n'
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'a.log').write_text(''.join([
        line.format('10:00:00', 'Iter(train) [ 450/1000]  lr: 1e-3  time: 0.5'),
        line.format('10:00:25', 'Iter(train) [ 500/1000]  lr: 1e-3  time: 0.5'),
        line.format('10:00:30', 'Saving checkpoint at 500 iterations'),
        line.format('10:16:25', 'Iter(val) [8/8]    FID-train/fid: 363.7  FID-val/fid: 364.6'),
        line.format('10:16:50', 'Iter(train) [ 550/1000]  lr: 1e-3  time: 0.5'),
        line.format('10:17:15', 'Iter(train) [ 600/1000]  lr: 1e-3  time: 0.5'),
        # killed during the evaluation at 600: no metric line, no entry
    ]))
    (tmp_path / 'b').mkdir()  # the resumed invocation
    (tmp_path / 'b' / 'b.log').write_text(''.join([
        line.format('11:00:00', 'Iter(train) [1000/1000]  lr: 1e-3  time: 0.5'),
        line.format('11:02:21', 'Iter(val) [8/8]    FID-train/fid: 200.0'),
    ]))
    assert runs.evaluation_seconds(str(tmp_path)) == {500: 960.0, 1000: 141.0}


def test_training_seconds_count_every_invocation_a_failed_one_too(tmp_path, monkeypatch):
    # a stand-in for tools/train.py: keeps its arguments, sleeps, then fails on its first call
    # and succeeds after
    tools = tmp_path / 'root' / 'tools'
    tools.mkdir(parents=True)
    (tools / 'train.py').write_text(
        'import os, sys, time\n'
        f"open({str(tmp_path / 'argv')!r}, 'w').write(' '.join(sys.argv[1:]))\n"
        'time.sleep(0.3)\n'
        f"flag = {str(tmp_path / 'ran')!r}\n"
        'if not os.path.exists(flag):\n'
        '    open(flag, "w").close()\n'
        '    sys.exit(3)\n')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('train_cfg = dict(max_iters=100)\n')
    monkeypatch.setattr(runs, 'ROOT', str(tmp_path / 'root'))
    work = str(tmp_path / 'work')
    with pytest.raises(RuntimeError, match='training failed'):
        runs.train(str(cfg), work, ['a=1'], 10, poll_seconds=0.1)
    first = float(open(osp.join(work, 'benchmark_seconds.txt')).read())
    assert first >= 0.3
    total = runs.train(str(cfg), work, ['a=1'], 10, poll_seconds=0.1)
    assert total >= first + 0.3
    assert float(open(osp.join(work, 'benchmark_seconds.txt')).read()) == pytest.approx(
        total, abs=0.05)
    assert (tmp_path / 'argv').read_text() == f'{cfg} --work-dir {work} --cfg-options a=1'


def test_a_schedule_that_spans_the_run_spans_the_budget(tmp_path):
    art = f'{ROOT}/configs/synthetic_hands_articulation_baseline_cpu.py'
    opts = runs.schedule_options(art, 800)
    assert opts == ['param_scheduler.1.end=800']  # the cosine decay; the warm-up stays
    cfg = Config.fromfile(art)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in opts))
    warm, cosine = cfg.param_scheduler
    assert (warm.end, cosine.type, cosine.begin, int(cosine.end)) == (
        100, 'CosineAnnealingLR', 100, 800)
    # constant after the warm-up: nothing to stretch
    assert runs.schedule_options(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py', 800) == []
    fixed = tmp_path / 'fixed.py'
    fixed.write_text("train_cfg = dict(max_iters=100)\nparam_scheduler = [dict(\n"
                     "    type='CosineAnnealingLR', T_max=100, by_epoch=False, begin=0, "
                     "end=100)]\n")
    with pytest.raises(ValueError, match=r'fixed.py: param_scheduler\[0\] .* sets T_max'):
        runs.schedule_options(str(fixed), 800)


def test_pose_metrics_join_both_evaluators_of_a_derived_config(tmp_path):
    from .test_pose_regressor import _regressor
    _regressor(tmp_path / 'reg.pth')
    out = pose_diversity.with_pose_metrics(
        f'{ROOT}/configs/synthetic_hands_articulation_baseline_cpu.py', str(tmp_path / 'reg.pth'),
        ['flexion_f0_j0'], 64, str(tmp_path / 'sub' / 'cfg.py'))
    cfg = Config.fromfile(out)
    for key in ('val_evaluator', 'test_evaluator'):
        metrics = cfg[key]['metrics']
        assert {'fid_train', 'roughness', 'pose_fd_val', 'pose_diversity_train'} <= set(metrics)
        assert metrics['pose_kid_train']['fake_nums'] == 64
        assert metrics['pose_fd_val']['feature_extractor']['checkpoint'] == str(
            tmp_path / 'reg.pth')
    assert cfg.model.loss.lambda_reg == 0.0 and cfg.train_dataloader.batch_size == 32


def test_budget_options_point_every_loader_and_metric():
    opts = runs.budget_options(seed=3, iters=800, eval_interval=100, fake_nums=128,
                               sample_steps=25, checkpoint_interval=200, data_root='/d')
    assert 'randomness.seed=3' in opts and 'train_cfg.val_interval=100' in opts
    assert [o for o in opts if 'fake_nums' in o] == [
        f'val_evaluator.metrics.{k}.fake_nums=128' for k in runs.METRIC_NAMES]
    # and each of those names is a metric of the CPU recipe
    cfg = Config.fromfile(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py')
    cfg.merge_from_dict(dict(o.split('=', 1) for o in opts if 'fake_nums' in o))
    assert all(int(m.fake_nums) == 128 for m in cfg.val_evaluator.metrics.values())
    assert 'data_root=/d' in opts


def test_convergence_plot_shows_both_recipes_over_seeds(tmp_path):
    conv = convergence
    metrics = list(conv.SPEEDUP_METRICS) + ['Roughness/roughness']
    curve = lambda scale: {m: {'100': 4 * scale, '200': 3 * scale}  # noqa: E731
                           for m in metrics}
    curves = dict(baseline={'0': curve(1.0), '1': curve(1.1)},
                  temporal={'0': curve(0.8), '1': curve(0.9)})
    report = dict(seeds=[0, 1], feature_extractor='RandomConvFeatures(...)', curves=curves,
                  **conv.summarize_speedups(curves, [0, 1]))
    assert report['speedup_min'] == pytest.approx(200 / (100 + 100 / 3))  # seed 1
    conv.plot(report, str(tmp_path / 'c.png'))
    assert cv2.imread(str(tmp_path / 'c.png')).shape == (640, 1200, 3)


def test_ablation_labels_the_recipe_with_its_current_options_and_changes_one_at_a_time():
    table = ablation.variants()
    from mmagic.registry import MODELS
    loss = MODELS.build(Config.fromfile(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py')
                        .model.loss)  # the options in effect, defaults included
    reference = [k for k in table if k.startswith('recipe (')]
    assert reference == ['recipe (output space, w=none, lambda=0.3, d in [-4,4], independent '
                         'noise)']
    noise, flip = (('shared', 'independent') if loss.share_noise else ('independent', 'shared'))
    assert reference == [f'recipe (output space, w={loss.weight}, lambda={loss.lambda_reg:g}, '
                         f'd in [-4,4], {noise} noise)']
    assert table[reference[0]] == (ablation.TEMPORAL, [])
    changed = {k: opts for k, (config, opts) in table.items() if opts}
    assert f'weight={loss.weight}' not in changed  # the recipe's own value is no variant
    weights = {opts[0] for k, opts in changed.items() if k.startswith('weight=')}
    assert weights == {f'model.loss.weight={w}' for w in ('none', 'snr', 'min_snr')
                       if w != loss.weight}
    assert all(len(opts) == 1 for k, opts in changed.items() if 'control' not in k)
    assert changed[f'{flip} noise'] == [f'model.loss.share_noise={not loss.share_noise}']
    assert changed[f'{flip} noise, lambda=0 (control)'] == [
        f'model.loss.share_noise={not loss.share_noise}', 'model.loss.lambda_reg=0.0']
    assert changed['lambda=0 (pairs, no pair term)'] == ['model.loss.lambda_reg=0.0']
    assert len({ablation.slug(k) for k in table}) == len(table)  # one work dir each


def _row(name, fid_val, roughness, fid_train=100.0):
    final = {'FID-train/fid': fid_train, 'FID-val/fid': fid_val, 'KID-train/kid': 0.1,
             'KID-val/kid': 0.1, 'Diversity-train/recall': 0.2,
             'Roughness/roughness': roughness}
    return dict(name=name, cfg_options=[f'opt.{name}'], final=final)


def test_ablation_chooses_the_lowest_fid_val_among_clean_variants_only():
    rows = [_row(ablation.BASELINE_NAME, 200.0, 5.0), _row('recipe (x)', 210.0, 5.2),
            _row('noisy', 150.0, 5.6), _row('clean', 190.0, 5.4)]
    choice = ablation.choose(rows)
    assert choice['chosen'] == 'clean'  # 'noisy' has the lowest FID-val but 5.6 > 1.1 x 5.0
    assert choice['roughness_limit'] == pytest.approx(5.5)
    assert choice['minus_baseline']['FID-val'] == pytest.approx(-10.0)
    assert choice['minus_recipe']['FID-val'] == pytest.approx(-20.0)
    assert choice['beats_baseline_fid_val'] and choice['cfg_options'] == ['opt.clean']
    rows[-1]['final']['Roughness/roughness'] = 9.0
    rows[1]['final']['Roughness/roughness'] = 9.0
    assert ablation.choose(rows)['chosen'] is None
    assert '| clean |' in ablation.table(rows)


def test_ablation_runs_added_variants_with_their_options(tmp_path, monkeypatch):
    ran = []
    final = {m: {'1000': 1.0} for _, m in ablation.TABLE_METRICS}

    def run_recorded(config, work_dir, options, iters, interval, record):
        ran.append((osp.basename(work_dir), config, options, osp.basename(record)))
        return dict(curves=final, train_seconds=1.0)
    monkeypatch.setattr(ablation, 'run_recorded', run_recorded)
    out = str(tmp_path / 'a.json')
    report = ablation.main([
        '--only', ablation.BASELINE_NAME, '--work-dir', str(tmp_path), '--out', out,
        '--add-variant', 'cuts ignored', 'train_dataloader.dataset.shot_detection=None',
        '--add-variant', 'as configured'])
    assert [r[3] for r in ran] == ['baseline_lambda_0_single_frames.json',
                                   'cuts_ignored.json', 'as_configured.json']
    assert [(name, options[-1:]) for name, _, options, _ in ran] == [
        ('baseline_lambda_0_single_frames', ['val_evaluator.metrics.roughness.fake_nums=256']),
        ('cuts_ignored', ['train_dataloader.dataset.shot_detection=None']),
        ('as_configured', ['val_evaluator.metrics.roughness.fake_nums=256'])]
    assert ran[1][1] == ablation.TEMPORAL and 'choice' not in report
    assert [r['name'] for r in json.load(open(out))['variants']] == [
        ablation.BASELINE_NAME, 'cuts ignored', 'as configured']
    with pytest.raises(SystemExit, match="'lambda=0.1': a variant of that name exists"):
        ablation.main(['--add-variant', 'lambda=0.1', 'x=1', '--out', out])


@pytest.mark.parametrize('module', [convergence, ablation, step_overhead, index_scale,
                                    pose_diversity, pose_regressor, plateau, shot_detection])
def test_benchmarks_document_their_command(module):
    name = module.__name__.split('.')[-1]
    assert f'python -m benchmarks.{name}' in module.__doc__


def test_index_scale_builds_the_tree_and_measures_the_index_and_the_workers(tmp_path):
    report = index_scale.main(['--sequences', '5', '--cameras', '2', '--frames', '7',
                               '--items', '50', '--tree', str(tmp_path / 'tree'),
                               '--out', str(tmp_path / 'r.json')])
    assert report['num_clips'] == 10 and report['num_frames'] == 70
    assert report['num_anchors'] == 70 and report['serialized']
    assert len(report['worker_private_mb']) == 2 and report['index_seconds'] > 0
    assert open(tmp_path / 'tree' / '.complete').read() == '5 2 7'


def test_sample_figure_puts_both_recipes_next_to_real_frames(handco_root, tmp_path):
    import numpy as np
    runs = {}
    for k, recipe in enumerate(convergence.RECIPES):
        os.makedirs(tmp_path / recipe / 'samples')
        grid = np.full((138, 138, 3), 60 * k, np.uint8)  # a 4 x 4 grid of 32 px, padding 2
        cv2.imwrite(str(tmp_path / recipe / 'samples' / 'iter_2.png'), grid)
        runs[recipe] = str(tmp_path / recipe / 'samples' / 'iter_2.png')
    report = dict(iters=2, data_root_option=handco_root,
                  configs=dict(temporal=f'{ROOT}/configs/synthetic_hands_temporal_cpu.py'))
    out = figures.sample_figure(report, runs, str(tmp_path / 's.png'), scale=1)
    img = cv2.imread(out)
    assert img.shape == (138 + 28, 3 * 138 + 2 * 12, 3)
    real = img[28:, 2 * 150:]
    assert real.std() > 10  # real frames, not a flat tile


def test_an_evaluation_lost_to_an_interrupted_run_is_made_from_its_checkpoint(tmp_path,
                                                                              monkeypatch):
    import json
    work = tmp_path / 'run'
    os.makedirs(work / '20260101_000000' / 'vis_data')
    metrics = runs.CURVE_METRICS
    with open(work / '20260101_000000' / 'vis_data' / 'scalars.json', 'w') as f:
        for step, value in ((250, 9.0), (750, 5.0)):
            f.write(json.dumps({'step': step, **{m: value for m in metrics}}) + '\n')
    for k in (250, 500, 750):
        (work / f'iter_{k}.pth').write_bytes(b'')
    assert runs.missing_evaluations(str(work), 1000, 250) == [500]  # 1000: no checkpoint
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        out = cmd[cmd.index('--out') + 1]
        with open(out, 'w') as f:
            json.dump({'metrics': {m: 7.0 for m in metrics}}, f)
        return runs.subprocess.CompletedProcess(cmd, 0)
    monkeypatch.setattr(runs.subprocess, 'run', fake_run)
    opts = ['randomness.seed=3', 'val_evaluator.metrics.fid_train.fake_nums=256']
    assert runs.evaluate_missing('cfg.py', str(work), opts, 1000, 250) == [500]
    (cmd, ) = calls
    assert cmd[1].endswith('tools/test.py') and cmd[3].endswith('iter_500.pth')
    assert cmd[-2:] == ['randomness.seed=3', 'test_evaluator.metrics.fid_train.fake_nums=256']
    assert runs.curves(str(work))['FID-train/fid'] == {250: 9.0, 500: 7.0, 750: 5.0}
    assert runs.missing_evaluations(str(work), 1000, 250) == []
    assert 'PoseFD-val/fid' not in runs.curves(str(work))  # a run without the pose metrics
    with open(work / '20260101_000000' / 'vis_data' / 'scalars.json', 'a') as f:
        f.write(json.dumps({'step': 250, **{m: 1.5 for m in runs.POSE_METRICS}}) + '\n')
    assert runs.curves(str(work))['PoseFD-val/fid'] == {250: 1.5}


def test_shot_detection_counts_missed_and_invented_cuts(monkeypatch):
    found = {'a.mp4': [16, 32], 'b.mp4': [16, 20], 'c.mp4': []}
    monkeypatch.setattr(shot_detection, 'open_video', lambda path: path)
    monkeypatch.setattr(shot_detection, 'detect_cuts', lambda reader, opts: found[reader])
    assert shot_detection.score(['a.mp4', 'b.mp4', 'c.mp4'], [16, 32], {}) == dict(
        videos=3, true_cuts=6, missed=3, false_cuts=1)
    assert shot_detection.score(['b.mp4'], [], {})['false_cuts'] == 2


def test_ablation_varies_the_recipe_it_is_given():
    temporal = 'configs/synthetic_hands_articulation_temporal_cpu.py'
    baseline = 'configs/synthetic_hands_articulation_baseline_cpu.py'
    table = ablation.variants(temporal, baseline)
    assert table[ablation.BASELINE_NAME] == (baseline, [])
    assert {config for name, (config, _) in table.items()
            if name != ablation.BASELINE_NAME} == {temporal}
    # the same options as the default recipe's, each flipped from this recipe's own setting:
    # it shares the noise of a pair, so its flip is one draw per frame
    assert 'recipe (output space, w=none, lambda=0.3, d in [-4,4], shared noise)' in table
    assert table['independent noise'] == (temporal, ['model.loss.share_noise=False'])

    def noise_agnostic(names):
        return {re.sub(r'(shared|independent) noise', 'NOISE', n) for n in names}

    assert noise_agnostic(table) == noise_agnostic(ablation.variants())

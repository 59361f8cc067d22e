"""The benchmarks' arithmetic and report, on curves with known answers (no training)."""
import importlib.util
import os.path as osp
import sys

import cv2
import pytest

ROOT = osp.join(osp.dirname(__file__), '..')


def load(name):
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    try:
        spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'benchmarks',
                                                                   f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.pop(0)


def test_speedup_is_baseline_iterations_over_temporal_iterations_to_the_final_fid():
    conv = load('convergence')
    base = {100: 9.0, 200: 6.0, 300: 5.0, 400: 4.0}
    temp = {100: 7.0, 200: 3.9, 300: 3.0, 400: 2.5}
    assert conv.speedup(base, temp) == dict(
        target=4.0, baseline_iters=400, temporal_iters=200, speedup=2.0,
        baseline_iters_sustained=400, temporal_iters_sustained=200, speedup_sustained=2.0)
    # a transient dip below the target counts as reached, not as reached for good
    dip = {100: 3.5, 200: 4.5, 300: 3.8, 400: 3.0}
    res = conv.speedup(base, dip)
    assert res['temporal_iters'] == 100 and res['speedup'] == 4.0
    assert res['temporal_iters_sustained'] == 300 and res['speedup_sustained'] == 400 / 300
    slow = {100: 9.5, 200: 8.0, 300: 6.0, 400: 4.5}
    assert conv.speedup(base, slow)['speedup'] is None  # never reaches it
    assert conv.mean_of([2.0, None, 1.0]) == 1.5 and conv.mean_of([None]) is None


def test_budget_options_point_every_loader_and_metric():
    runs = load('runs')
    opts = runs.budget_options(seed=3, iters=800, eval_interval=100, fake_nums=128,
                               sample_steps=25, checkpoint_interval=200, data_root='/d')
    assert 'randomness.seed=3' in opts and 'train_cfg.val_interval=100' in opts
    assert [o for o in opts if 'fake_nums' in o] == [
        f'val_evaluator.metrics.{k}.fake_nums=128' for k in range(4)]
    assert {f'{s}_dataloader.dataset.data_root=/d' for s in ('train', 'val', 'test')} <= set(opts)


def test_convergence_plot_shows_both_recipes_over_seeds(tmp_path):
    conv = load('convergence')
    curve = lambda scale: {'FID-train/fid': {'100': 4 * scale, '200': 3 * scale},  # noqa: E731
                           'FID-val/fid': {'100': 5 * scale, '200': 4 * scale}}
    report = dict(seeds=[0, 1], speedup=1.5, speedup_sustained=None, feature_extractor='RandomConvFeatures(...)',
                  curves=dict(baseline={'0': curve(1.0), '1': curve(1.1)},
                              temporal={'0': curve(0.8), '1': curve(0.9)}))
    conv.plot(report, str(tmp_path / 'c.png'))
    assert cv2.imread(str(tmp_path / 'c.png')).shape == (400, 1000, 3)


@pytest.mark.parametrize('name', ['convergence', 'ablation', 'step_overhead'])
def test_benchmarks_document_their_command(name):
    module = load(name)
    assert f'python benchmarks/{name}.py' in module.__doc__
    with pytest.raises(SystemExit):  # argparse's --help
        module.parse_args(['--help'])

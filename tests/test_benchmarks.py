"""The benchmarks' arithmetic and report, on curves with known answers (no training)."""
import cv2
import pytest
from mmengine.config import Config

from benchmarks import ablation, convergence, runs, step_overhead

from .conftest import ROOT


def test_speedup_is_baseline_iterations_over_temporal_iterations_to_the_final_fid():
    conv = convergence
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
    opts = runs.budget_options(seed=3, iters=800, eval_interval=100, fake_nums=128,
                               sample_steps=25, checkpoint_interval=200, data_root='/d')
    assert 'randomness.seed=3' in opts and 'train_cfg.val_interval=100' in opts
    assert [o for o in opts if 'fake_nums' in o] == [
        f'val_evaluator.metrics.{k}.fake_nums=128' for k in runs.METRIC_NAMES]
    # and each of those names is a metric of the CPU recipe
    cfg = Config.fromfile(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py')
    cfg.merge_from_dict(dict(o.split('=', 1) for o in opts if 'fake_nums' in o))
    assert all(int(m.fake_nums) == 128 for m in cfg.val_evaluator.metrics.values())
    assert {f'{s}_dataloader.dataset.data_root=/d' for s in ('train', 'val', 'test')} <= set(opts)


def test_convergence_plot_shows_both_recipes_over_seeds(tmp_path):
    conv = convergence
    curve = lambda scale: {'FID-train/fid': {'100': 4 * scale, '200': 3 * scale},  # noqa: E731
                           'FID-val/fid': {'100': 5 * scale, '200': 4 * scale}}
    report = dict(seeds=[0, 1], speedup=1.5, speedup_sustained=None,
                  feature_extractor='RandomConvFeatures(...)',
                  curves=dict(baseline={'0': curve(1.0), '1': curve(1.1)},
                              temporal={'0': curve(0.8), '1': curve(0.9)}))
    conv.plot(report, str(tmp_path / 'c.png'))
    assert cv2.imread(str(tmp_path / 'c.png')).shape == (400, 1000, 3)


def test_ablation_labels_the_recipe_with_its_current_options_and_changes_one_at_a_time():
    table = ablation.variants()
    loss = Config.fromfile(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py').model.loss
    reference = [k for k in table if k.startswith('recipe (')]
    assert reference == [f'recipe (output space, w={loss.weight}, lambda={loss.lambda_reg:g}, '
                         'd in [-4,4], shared noise)']
    assert table[reference[0]] == (ablation.TEMPORAL, [])
    changed = {k: opts for k, (config, opts) in table.items() if opts}
    assert f'weight={loss.weight}' not in changed  # the recipe's own value is no variant
    weights = {opts[0] for k, opts in changed.items() if k.startswith('weight=')}
    assert weights == {f'model.loss.weight={w}' for w in ('none', 'snr', 'min_snr')
                       if w != loss.weight}
    assert all(len(opts) == 1 for opts in changed.values())


@pytest.mark.parametrize('module', [convergence, ablation, step_overhead])
def test_benchmarks_document_their_command(module):
    name = module.__name__.split('.')[-1]
    assert f'python -m benchmarks.{name}' in module.__doc__

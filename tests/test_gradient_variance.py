"""Gradient variance: the estimator against a closed form, the hook, the comparison tool."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from vidreg_mm.engine import gradient_variance, noise_to_signal, preserved_rng_state

from .conftest import ROOT, load_tool
from .test_train_runner import logged, train


def linear_regression(d=3, b=4, k=4000, s=0.5):
    """(d, b, s), w*, parameters w, and k mini-batches (x, y) of b samples of y = x.w* + e."""
    g = torch.Generator().manual_seed(0)
    w_star = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    w = torch.tensor([0.3, -1.0, 1.5], dtype=torch.float64, requires_grad=True)
    batches = []
    for _ in range(k):
        x = torch.randn(b, d, generator=g, dtype=torch.float64)
        batches.append((x, x @ w_star + s * torch.randn(b, generator=g, dtype=torch.float64)))
    return (d, b, s), w_star, w, batches

def test_matches_the_analytic_variance_of_linear_regression():
    """y = x.w* + e, x ~ N(0, I_d), e ~ N(0, s^2), squared loss averaged over B samples.

    At parameters w (delta = w - w*), the per-sample gradient is h = 2 (x.delta - e) x with
    E||h - Eh||^2 = 4 ((d + 1) ||delta||^2 + s^2 d), so a mini-batch gradient has variance
    4 ((d + 1) ||delta||^2 + s^2 d) / B.
    """
    (d, b, s), w_star, w, batches = linear_regression()
    stats = gradient_variance(lambda xy: ((xy[0] @ w - xy[1])**2).mean(), batches, [w])
    delta = (w - w_star).detach()
    expected = 4 * ((d + 1) * delta.pow(2).sum() + s**2 * d) / b
    assert stats['grad_variance'] == pytest.approx(float(expected), rel=0.06)
    assert stats['grad_sq_norm'] == pytest.approx(float((2 * delta).pow(2).sum()), rel=0.06)
    assert w.grad is None  # .grad untouched


def test_needs_two_batches():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match='at least 2 mini-batches, got 1'):
        gradient_variance(lambda _: w.sum(), [None], [w])


def test_rng_state_is_restored():
    torch.manual_seed(1)
    np.random.seed(1)
    with preserved_rng_state():
        torch.rand(5), np.random.rand(5)
    after = (torch.rand(2), np.random.rand(2))
    torch.manual_seed(1)
    np.random.seed(1)
    assert torch.equal(after[0], torch.rand(2)) and np.array_equal(after[1], np.random.rand(2))


def test_hook_logs_at_its_interval_without_changing_training(handco_root, tmp_path):
    config = tmp_path / 'with_gv_hook.py'
    config.write_text(
        f"_base_ = [{osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py')!r}]\n"
        "default_hooks = dict(grad_variance=dict(interval=5, num_batches=3))\n")
    with_hook = train(str(config), tmp_path / 'a', handco_root, iters=10)
    without = train('synthetic_hands_temporal_cpu.py', tmp_path / 'b', handco_root, iters=10)
    records = logged(with_hook)
    measured = [r for r in records if 'grad_variance' in r]
    assert [r['step'] for r in measured] == [5, 10]
    assert all(r['grad_variance'] > 0 and np.isfinite(r['grad_sq_norm']) for r in measured)
    losses = lambda runner: [r['loss'] for r in logged(runner) if 'loss' in r]  # noqa: E731
    assert losses(with_hook) == losses(without)


def test_tool_compares_temporal_and_baseline_at_equal_frames(handco_root, tmp_path):
    tool = load_tool('tools/analysis/gradient_variance.py')
    configs = [osp.join(ROOT, 'configs', c) for c in ('synthetic_hands_temporal_cpu.py',
                                                      'synthetic_hands_baseline_cpu.py')]
    out = str(tmp_path / 'gv.json')
    opts = [f'train_dataloader.dataset.data_root={handco_root}']
    with pytest.raises(SystemExit, match='frames per batch differ'):
        tool.main(configs + ['--num-batches', '2', '--cfg-options', *opts,
                             'train_dataloader.batch_size=4'])
    report = tool.main(configs + ['--num-batches', '3', '--out', out, '--cfg-options', *opts])
    saved = json.load(open(out))
    assert saved['frames_per_batch'] == 32
    assert saved['variance_ratio_temporal_over_baseline'] == pytest.approx(
        report['results']['temporal']['grad_variance'] /
        report['results']['baseline']['grad_variance'])
    assert all(r['grad_variance'] > 0 for r in saved['results'].values())


def test_noise_to_signal_is_the_closed_form_and_ignores_the_scale_of_the_loss():
    """Linear regression as above: variance 4 ((d + 1) ||delta||^2 + s^2 d) / B over the
    squared expected gradient ||2 delta||^2; a loss scaled by 3 has 9x the variance and the
    same ratio."""
    (d, b, s), w_star, w, batches = linear_regression()
    delta = (w - w_star).detach()
    expected = float(4 * ((d + 1) * delta.pow(2).sum() + s**2 * d) / b
                     / (2 * delta).pow(2).sum())
    one = gradient_variance(lambda xy: ((xy[0] @ w - xy[1])**2).mean(), batches, [w])
    three = gradient_variance(lambda xy: 3 * ((xy[0] @ w - xy[1])**2).mean(), batches, [w])
    assert one['noise_to_signal'] == pytest.approx(expected, rel=0.08)
    assert three['grad_variance'] == pytest.approx(9 * one['grad_variance'], rel=1e-9)
    assert three['noise_to_signal'] == pytest.approx(one['noise_to_signal'], rel=1e-9)
    # the squared mean of K gradients overestimates the signal by variance / K; the ratio
    # corrects for it, and is None where nothing is left
    assert noise_to_signal(2.0, 1.5, 4) == pytest.approx(2.0 / 1.0)
    assert noise_to_signal(2.0, 0.4, 4) is None


def test_frames_per_step_counts_every_frame_of_a_clip_and_the_tool_compares_at_equal_frames():
    from mmengine.config import Config

    from vidreg_mm.run_config import frames_per_sample, frames_per_step

    def cfg(name):
        return Config.fromfile(osp.join(ROOT, 'configs', name))
    assert frames_per_step(cfg('synthetic_hands_temporal_cpu.py')) == 16 * 2
    assert frames_per_step(cfg('synthetic_hands_baseline_cpu.py')) == 32 * 1
    assert frames_per_step(cfg('synthetic_hands_clip3_temporal_cpu.py')) == 11 * 3
    assert frames_per_sample(dict(num_frames=3, pair_mode=False)) == 1
    assert frames_per_sample({}) == 2  # the dataset's defaults
    tool = load_tool('tools/analysis/gradient_variance.py')
    with pytest.raises(SystemExit, match=r"frames per batch differ \(\{'temporal': 33, "
                       r"'baseline': 32\}\)"):
        tool.main([osp.join(ROOT, 'configs', 'synthetic_hands_clip3_temporal_cpu.py'),
                   osp.join(ROOT, 'configs', 'synthetic_hands_baseline_cpu.py')])

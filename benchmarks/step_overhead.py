"""Wall time per training step, temporal recipe against baseline at equal frames per step.

    python -m benchmarks.step_overhead            # about 2 minutes on 2 CPU cores

Builds the model of each config (the same network, the same initial weights) with its own
optimizer wrapper, takes one batch from each config's training loader (16 pairs against 32
single frames), and times the complete MMEngine ``train_step`` -- preprocessing, the forward
pass, the loss, backward, gradient clipping and the AdamW step; not data loading --
alternating temporal and baseline steps in this one process after a warm-up (the order
flips every round, so drift of the machine's speed hits both alike). Writes
benchmarks/results/step_overhead.json; the last line printed is the ratio of the median
step times, temporal / baseline.
"""
import argparse
import copy
import os
import statistics
import sys

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import vidreg_mm  # noqa: F401  registers the modules

from .runs import ROOT, machine, timed_rounds, write_report


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--temporal-config', default='configs/synthetic_hands_temporal_cpu.py')
    p.add_argument('--baseline-config', default='configs/synthetic_hands_baseline_cpu.py')
    p.add_argument('--warmup', type=int, default=10, help='untimed steps of each first')
    p.add_argument('--rounds', type=int, default=60, help='timed steps of each')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default='benchmarks/results/step_overhead.json')
    return p.parse_args(argv)


def setup(path: str, seed: int):
    """(model, optim wrapper, one training batch, frames per batch) of a config."""
    cfg = Config.fromfile(path)
    from mmagic.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.train()
    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    batch = next(iter(Runner.build_dataloader(loader_cfg, seed=seed)))
    frames = sum(x.shape[0] for x in batch['inputs'])
    return model, optim, batch, frames


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    init_default_scope('mmagic')
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 1000)  # past any lambda warm-up
    runs = {name: setup(path, args.seed) for name, path in
            (('temporal', args.temporal_config), ('baseline', args.baseline_config))}
    frames = {name: r[3] for name, r in runs.items()}
    if frames['temporal'] != frames['baseline']:
        raise SystemExit(f'error: frames per step differ: {frames}')

    def step(name):
        model, optim, batch, _ = runs[name]
        return lambda: model.train_step(batch, optim)

    times = timed_rounds({name: step(name) for name in ('temporal', 'baseline')},
                         args.warmup, args.rounds)
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med['temporal'] / med['baseline']
    report = dict(
        command='python -m benchmarks.step_overhead ' + ' '.join(argv or []),
        configs=dict(temporal=args.temporal_config, baseline=args.baseline_config),
        frames_per_step=frames['temporal'], warmup=args.warmup, rounds=args.rounds,
        median_seconds=med, mean_seconds={n: statistics.fmean(t) for n, t in times.items()},
        ratio_temporal_over_baseline=ratio, machine=machine(),
        seconds={n: [round(x, 5) for x in t] for n, t in times.items()})
    write_report(args.out, report)
    for name in runs:
        print(f'{name}: median {med[name] * 1000:.1f} ms per step ({frames[name]} frames)')
    print(f'ratio temporal/baseline: {ratio:.3f}')
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

"""Compare the variance of mini-batch gradients, temporal against baseline, at equal frames
per batch and the same parameters (docs/method.md).

    python tools/analysis/gradient_variance.py configs/synthetic_hands_temporal_cpu.py \
        configs/synthetic_hands_baseline_cpu.py --checkpoint work_dirs/x/iter_1500.pth

Both configs must build the same network; their parameters are the checkpoint's, or one
seeded initialisation when no checkpoint is given. Prints each variance and the ratio
temporal / baseline, and writes them as JSON (--out).
"""
import argparse
import copy
import json
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

import vidreg_mm  # noqa: F401  registers the modules
from vidreg_mm.config_keys import merge_cli_options
from vidreg_mm.engine import gradient_variance, model_loss
from vidreg_mm.run_config import frames_per_step


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('temporal_config')
    p.add_argument('baseline_config')
    p.add_argument('--checkpoint', help='parameters to measure at (default: seeded init)')
    p.add_argument('--num-batches', type=int, default=16, help='mini-batches per estimate')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='JSON file for the results')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='overrides applied to both configs')
    return p.parse_args(argv)


def measure(cfg, args) -> dict:
    torch.manual_seed(args.seed)
    from mmagic.registry import MODELS
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True,
                        logger='silent')
    model.train()
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False,
                      sampler=dict(type='InfiniteSampler', shuffle=True, seed=args.seed))
    loader = iter(Runner.build_dataloader(loader_cfg, seed=args.seed))
    torch.manual_seed(args.seed)
    batches = [next(loader) for _ in range(args.num_batches)]
    return gradient_variance(model_loss(model), batches, list(model.parameters()))


def main(argv=None):
    args = parse_args(argv)
    cfgs = {}
    for name, path in (('temporal', args.temporal_config), ('baseline', args.baseline_config)):
        cfgs[name] = Config.fromfile(path)
        merge_cli_options(cfgs[name], args.cfg_options)
    init_default_scope(cfgs['temporal'].get('default_scope', 'mmagic'))
    frames = {name: frames_per_step(cfg) for name, cfg in cfgs.items()}
    if frames['temporal'] != frames['baseline']:
        raise SystemExit(f'error: frames per batch differ ({frames}); compare at equal frames '
                         '(clips x frames per clip = single frames), e.g. with --cfg-options')
    results = {name: measure(cfg, args) for name, cfg in cfgs.items()}
    ratio = results['temporal']['grad_variance'] / results['baseline']['grad_variance']
    report = dict(temporal_config=args.temporal_config, baseline_config=args.baseline_config,
                  checkpoint=args.checkpoint, frames_per_batch=frames['temporal'],
                  num_batches=args.num_batches, seed=args.seed, results=results,
                  variance_ratio_temporal_over_baseline=ratio)
    for name, res in results.items():
        print(f"{name}: gradient variance {res['grad_variance']:.6g} "
              f"(squared norm of the mean gradient {res['grad_sq_norm']:.6g}; "
              f"variance / squared norm of the expected gradient {res['noise_to_signal']})")
    print(f'variance ratio temporal / baseline: {ratio:.4f}')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()

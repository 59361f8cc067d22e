"""Train a vidreg-mm config with MMEngine's Runner.

    python tools/train.py configs/synthetic_hands_temporal_cpu.py
    tools/dist_train.sh configs/handco_temporal.py 8 --amp
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from vidreg_mm.config_check import ConfigError, check_config
from vidreg_mm.engine import CheckpointError, check_training_checkpoint, find_resume_checkpoint
from vidreg_mm.run_config import (add_run_arguments, load_run_config, parse_run_args,
                                  setup_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a vidreg-mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir '
        'when no path is given')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training (GPU)')
    return parse_run_args(add_run_arguments(parser), argv)


def build_config(args) -> Config:
    cfg = load_run_config(args)
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print('AMP is already enabled in the config')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume is not None:
        path = (find_resume_checkpoint(cfg.work_dir) if args.resume == 'auto' else args.resume)
        if path is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir}; training starts from the '
                      'beginning', logger='current', level=30)
        else:
            check_training_checkpoint(path)  # a clear error before anything is built
            cfg.resume, cfg.load_from = True, path
    return cfg


def report(runner):
    """Print where the run's checkpoint, log and sample grid are."""
    last = osp.join(runner.work_dir, 'last_checkpoint')
    ckpt = open(last).read().strip() if osp.isfile(last) else 'none saved'
    grids = [getattr(h, 'last_path', None) for h in runner.hooks
             if type(h).__name__ == 'SampleGridHook']
    print(f'checkpoint:  {ckpt}')
    print(f'log:         {osp.join(runner.log_dir, runner.timestamp + ".log")}')
    print(f'scalars:     {osp.join(runner.log_dir, "vis_data", "scalars.json")}')
    if grids and grids[0]:
        print(f'samples:     {grids[0]}')


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        check_config(cfg, splits=('train', 'val'))
    except (ConfigError, CheckpointError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}') from None
    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    if runner.rank == 0:
        report(runner)
    return runner


if __name__ == '__main__':
    main()

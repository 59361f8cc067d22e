"""Train a vidreg-mm config with MMEngine's Runner.

    python tools/train.py configs/synthetic_hands_temporal_cpu.py
    tools/dist_train.sh configs/handco_temporal.py 8 --amp
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.logging import print_log

from vidreg_mm.config_check import ConfigError, check_config
from vidreg_mm.engine import (CheckpointError, SampleGridHook, check_training_checkpoint,
                              find_resume_checkpoint)
from vidreg_mm.engine.optim_wrapper import AMP_WRAPPERS
from vidreg_mm.run_config import add_run_arguments, build_runner, load_run_config, parse_run_args


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
        kind = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if kind in AMP_WRAPPERS.values():
            print('AMP is already enabled in the config')
        elif kind not in AMP_WRAPPERS:
            raise ConfigError(f'--amp: optim_wrapper.type={kind!r} has no known AMP variant; '
                              f'set an AMP wrapper in the config ({AMP_WRAPPERS})')
        else:
            cfg.optim_wrapper.type = AMP_WRAPPERS[kind]
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume is not None:
        path = (find_resume_checkpoint(cfg.work_dir) if args.resume == 'auto' else args.resume)
        if path is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir}; training starts from the '
                      'beginning', logger='current', level=30)
        else:
            safe = cfg.get('default_hooks', {}).get('weights_only', {}).get('safe_globals', ())
            check_training_checkpoint(path, safe)  # a clear error before anything is built
            cfg.resume, cfg.load_from = True, path
    else:
        refuse_to_overwrite(cfg.work_dir)
    return cfg


def refuse_to_overwrite(work_dir: str) -> None:
    """A new run (no --resume) would overwrite the checkpoints of an earlier run in its work
    dir and point last_checkpoint back at its own: refused, with the ways forward."""
    found = find_resume_checkpoint(work_dir)
    if found is not None:
        raise ConfigError(
            f'work dir {work_dir} holds checkpoints of an earlier run (latest: {found}); a '
            'new run would overwrite them. Continue that run with --resume, or start a new '
            'one in another work dir (--work-dir DIR), or delete those checkpoints first.')


def report(runner):
    """Print where the run's checkpoint, log and sample grid are."""
    last = osp.join(runner.work_dir, 'last_checkpoint')
    ckpt = open(last).read().strip() if osp.isfile(last) else 'none saved'
    grids = [h.last_path for h in runner.hooks if isinstance(h, SampleGridHook)]
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
    runner = build_runner(cfg)
    runner.train()
    if runner.rank == 0:
        report(runner)
    return runner


if __name__ == '__main__':
    main()

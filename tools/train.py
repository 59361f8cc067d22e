"""Train a vidreg-mm config with MMEngine's Runner.

    python tools/train.py configs/synthetic_hands_temporal_cpu.py
    tools/dist_train.sh configs/handco_temporal.py 8 --amp
"""
import argparse
import os
import os.path as osp
from contextlib import ExitStack

from mmengine.config import Config
from mmengine.logging import print_log

from vidreg_mm.config_check import ConfigError, check_config
from vidreg_mm.config_keys import config_changes
from vidreg_mm.engine import (CheckpointError, SampleGridHook, check_training_checkpoint,
                              find_resume_checkpoint)
from vidreg_mm.engine.optim_wrapper import AMP_WRAPPERS
from vidreg_mm.fileio import WorkDirInUse, work_dir_lock
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


def launch_rank() -> int:
    """This process's rank in its launch (torchrun's RANK, Slurm's SLURM_PROCID; 0 alone)."""
    return int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', 0)))


def build_config(args, held: ExitStack = None) -> Config:
    """The run's config, checked (:func:`check_config`: nothing is written for an invalid
    one); with ``held``, rank 0 then takes the work dir's lock into it (held until ``held``
    closes: a second run in the same work dir is refused, naming this one) before it looks
    for earlier checkpoints there."""
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
    check_config(cfg, splits=('train', 'val'))
    if held is not None and launch_rank() == 0:
        held.enter_context(work_dir_lock(cfg.work_dir))
    if args.resume is not None:
        path = (find_resume_checkpoint(cfg.work_dir) if args.resume == 'auto' else args.resume)
        if path is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir}; training starts from the '
                      'beginning', logger='current', level=30)
        else:
            safe = cfg.get('default_hooks', {}).get('weights_only', {}).get('safe_globals', ())
            # a clear error before anything is built
            checkpoint = check_training_checkpoint(path, safe)
            cfg.resume, cfg.load_from = True, path
            log_config_changes(path, checkpoint, cfg)
    else:
        refuse_to_overwrite(cfg.work_dir)
    return cfg


def log_config_changes(path: str, checkpoint: dict, cfg: Config) -> None:
    """Say what this config changes against the one the resumed checkpoint was trained
    with (a changed lambda or batch size is allowed, and never silent)."""
    saved = checkpoint['meta'].get('cfg')
    if not isinstance(saved, str):
        print_log(f'--resume: {path} holds no config to compare this one with',
                  logger='current', level=30)
        return
    try:
        changes = config_changes(saved, cfg)
    except Exception as e:  # noqa: BLE001  a config text of another version of the project
        print_log(f'--resume: the config saved in {path} could not be read ({e}); not '
                  'compared with this one', logger='current', level=30)
        return
    if changes:
        print_log(f'--resume: this config differs from the one {path} was trained with in '
                  f'{len(changes)} key(s):\n  ' + '\n  '.join(changes), logger='current',
                  level=30)


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
    with ExitStack() as held:  # the work dir's lock, for the run's life
        try:
            cfg = build_config(args, held)
        except (ConfigError, CheckpointError, FileNotFoundError, WorkDirInUse) as e:
            raise SystemExit(f'error: {e}') from None
        runner = build_runner(cfg)
        runner.train()
        if runner.rank == 0:
            report(runner)
    return runner


if __name__ == '__main__':
    main()

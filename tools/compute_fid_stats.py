"""Compute and cache the real-frame statistics of one FID metric of a config.

    python tools/compute_fid_stats.py configs/handco_temporal.py --metric fid_val

Uses the metric's own settings (feature extractor or Inception file, real split) and the
config's test dataloader, and writes the mean and covariance to the metric's
``real_stats_file`` (or --out; ``.npz``), where training and tools/test.py then read them.

    python tools/compute_fid_stats.py --convert OLD.pkl [--out NEW.npz]

converts pickled statistics (MMagic's ``inception_pkl``, or an earlier vidreg-mm's) to
``.npz`` with an unpickler that builds arrays only: no code in the file is run.
"""
import argparse
import os
import os.path as osp
from types import SimpleNamespace

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import vidreg_mm  # noqa: F401  registers the modules
from vidreg_mm.config_keys import merge_cli_options


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', nargs='?')
    p.add_argument('--metric', default='fid_val',
                   help='name of a FrameFID metric in test_evaluator.metrics')
    p.add_argument('--out', help="cache file (default: the metric's real_stats_file)")
    p.add_argument('--convert', metavar='PKL', help='convert pickled statistics to .npz '
                   '(written to --out, default: PKL with the suffix .npz)')
    p.add_argument('--force', action='store_true', help='recompute an existing cache file')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.convert:
        return convert(args)
    if not args.config:
        raise SystemExit('error: give a config (or --convert PKL)')
    cfg = Config.fromfile(args.config)
    merge_cli_options(cfg, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmagic'))
    from mmagic.registry import METRICS, MODELS
    metrics = {name: m for name, m in cfg.test_evaluator.metrics.items()
               if m is not None and m.get('type') == 'FrameFID'}
    if args.metric not in metrics:
        raise SystemExit(f'error: no FrameFID metric named {args.metric!r} in '
                         f'test_evaluator.metrics; FrameFID metrics: {sorted(metrics)}')
    metric_cfg = dict(metrics[args.metric])
    if args.out:
        metric_cfg['real_stats_file'] = args.out
    path = metric_cfg.get('real_stats_file')
    if not path:
        raise SystemExit(f'error: metric {args.metric} has no real_stats_file; give --out')
    if osp.exists(path):
        if not args.force:
            raise SystemExit(f'error: {path} exists; --force recomputes it')
        os.remove(path)
    metric = METRICS.build(metric_cfg)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    metric.prepare(SimpleNamespace(data_preprocessor=preprocessor),
                   Runner.build_dataloader(cfg.test_dataloader))
    print(f'{args.metric}: statistics of {metric.num_real} real frames '
          f'({metric.extractor_name}) written to {path}')
    return path


def convert(args):
    from vidreg_mm.evaluation.metrics.real_stats import convert_pickled_stats
    out = args.out or osp.splitext(args.convert)[0] + '.npz'
    if osp.exists(out) and not args.force:
        raise SystemExit(f'error: {out} exists; --force overwrites it')
    try:
        stats = convert_pickled_stats(args.convert, out)
    except (OSError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    print(f'{args.convert}: statistics of {stats.get("num_real", "?")} real frames written '
          f'to {out}')
    return out


if __name__ == '__main__':
    main()

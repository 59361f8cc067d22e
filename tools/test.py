"""Evaluate a checkpoint: FID against the train and the val frames, with MMEngine's Runner.

    python tools/test.py configs/synthetic_hands_temporal_cpu.py \
        work_dirs/synthetic_hands_temporal_cpu/iter_1500.pth
    tools/dist_test.sh CONFIG CHECKPOINT 8

Prints the metrics and writes them, with the feature extractor of each FID, to
<work_dir>/test_results.json (or --out).
"""
import argparse
import json
import os
import os.path as osp

from mmengine.hooks import Hook

from vidreg_mm.config_check import ConfigError, check_config
from vidreg_mm.engine import CheckpointError
from vidreg_mm.run_config import add_run_arguments, build_runner, load_run_config, parse_run_args


class KeepMetrics(Hook):
    """Keeps the metrics of the test epoch (MMagic's MultiTestLoop.run returns none)."""

    priority = 'VERY_LOW'

    def after_test_epoch(self, runner, metrics=None):
        self.metrics = dict(metrics or {})


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a vidreg-mm checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='JSON file for the results')
    parser.add_argument('--allow-mismatch', action='store_true',
                        help='evaluate a checkpoint whose weights do not match the config\'s '
                        'model (what fits is loaded, the rest stays as initialised); '
                        'refused by default')
    return parse_run_args(add_run_arguments(parser), argv)


def extractor_names(runner) -> dict:
    """{metric prefix: feature extractor} for every FID-type metric of the test loop."""
    names = {}
    for evaluator in getattr(runner.test_loop, 'evaluators', [runner.test_loop.evaluator]):
        for metric in evaluator.metrics:
            if hasattr(metric, 'extractor_name'):
                names[metric.prefix] = metric.extractor_name
    return names


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: checkpoint {args.checkpoint} does not exist')
    try:
        cfg = load_run_config(args)
    except ConfigError as e:
        raise SystemExit(f'error: {e}') from None
    cfg.load_from = args.checkpoint
    if args.allow_mismatch:
        if 'weights_only' not in cfg.get('default_hooks', {}):
            raise SystemExit('error: --allow-mismatch needs default_hooks.weights_only '
                             '(WeightsOnlyCheckpointHook), which checks checkpoints')
        cfg.default_hooks.weights_only.allow_mismatch = True
    try:
        check_config(cfg, splits=('test', ))
    except ConfigError as e:
        raise SystemExit(f'error: {e}') from None
    runner = build_runner(cfg)
    keep = KeepMetrics()
    runner.register_hook(keep)
    try:
        runner.test()
    except CheckpointError as e:
        raise SystemExit(f'error: {e}') from None
    metrics = keep.metrics
    if runner.rank == 0:
        report = dict(config=args.config, checkpoint=args.checkpoint,
                      metrics={k: float(v) for k, v in metrics.items()},
                      feature_extractors=extractor_names(runner))
        out = args.out or osp.join(cfg.work_dir, 'test_results.json')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(report, f, indent=2)
        for key, value in report['metrics'].items():
            print(f'{key}: {value:.4f}')
        for prefix, name in report['feature_extractors'].items():
            print(f'{prefix} features: {name}')
        print(f'results: {out}')
    return metrics


if __name__ == '__main__':
    main()

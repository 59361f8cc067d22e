"""Ablation of the regulariser's options (docs/method.md) on a tuning seed, with the standard
metrics, and the choice of the default that it implies.

    python -m benchmarks.ablation            # about 90 minutes on 2 CPU cores

Trains the temporal CPU recipe (configs/synthetic_hands_temporal_cpu.py) with one option
changed at a time -- lambda (including 0: the same pairs without the pair term), the
regulariser's space, its weight w(t), the offset range and noise sharing (with its control
at lambda = 0) -- and the baseline at equal frames per step, all on ``--seed`` (1 by default:
a seed that none of the reported comparisons of benchmarks/convergence.py uses, so that the
defaults are not tuned on the runs that report them). Every run is evaluated with the
configs' metrics (Inception FID and KID against train and val frames, precision, recall and
coverage, roughness of samples).

The choice rule, fixed before the runs: among the temporal variants whose samples are
clean (roughness at most ``ROUGHNESS_TOLERANCE`` times the baseline's), the one with the
lowest FID-val at the last evaluation (held-out sequences: the distribution a user cares
about); ``choice`` in the JSON names it, with its gaps to the baseline and to the recipe as
configured. Writes benchmarks/results/ablation.json and prints a Markdown table
(docs/results.md). One seed per variant: read differences against the seed-to-seed spread
that benchmarks/convergence.py reports. ``--add-variant NAME OPTION...`` adds a variant of
the temporal recipe by its --cfg-options (e.g. the dataset's ``shot_detection=None`` on video
data). ``--temporal-config`` and ``--baseline-config`` name another pair of recipes (the
options vary around the first). Resumable: each variant has its own work dir (named after
the variant), a complete one is not repeated, and is recorded in ``--records`` (default
``<out>_runs/``; benchmarks.records): commit it, and a later session takes the variant from
its record.
"""
import argparse
import os
import os.path as osp
import re
import time

from mmengine.config import Config

from vidreg_mm.models.losses.temporal_reg_loss import SPACES, WEIGHTS

from .records import recorded_curves, run_recorded
from .runs import ROOT, budget_options, feature_extractor, machine, write_report

TEMPORAL = 'configs/synthetic_hands_temporal_cpu.py'
BASELINE = 'configs/synthetic_hands_baseline_cpu.py'
BASELINE_NAME = 'baseline (lambda=0, single frames)'
#: a variant whose roughness exceeds the baseline's by more than this factor is not chosen
ROUGHNESS_TOLERANCE = 1.1
#: what the table and the choice read at the last evaluation
TABLE_METRICS = (('FID-train', 'FID-train/fid'), ('FID-val', 'FID-val/fid'),
                 ('KID-train', 'KID-train/kid'), ('KID-val', 'KID-val/kid'),
                 ('recall-train', 'Diversity-train/recall'),
                 ('roughness', 'Roughness/roughness'))


def variants(temporal: str = TEMPORAL, baseline: str = BASELINE) -> dict:
    """name -> (config, --cfg-options): the baseline, the temporal recipe as configured (its
    label states its current options), and each option changed alone."""
    from mmagic.registry import MODELS

    import vidreg_mm  # noqa: F401  registers the loss
    cfg = Config.fromfile(osp.join(ROOT, temporal))
    loss = MODELS.build(cfg.model.loss)  # the options in effect: the config's and defaults
    d_min, d_max = cfg.train_dataloader.dataset.offset_range
    noise = 'shared' if loss.share_noise else 'independent'
    reference = (f'recipe ({loss.space} space, w={loss.weight}, lambda={loss.lambda_reg:g}, '
                 f'd in [{d_min},{d_max}], {noise} noise)')
    table = {BASELINE_NAME: (baseline, []), reference: (temporal, [])}
    lambdas = [0.0] + [round(f * loss.lambda_reg, 6) for f in (1 / 3, 3.0)]
    table.update({f'lambda={v:g}' + (' (pairs, no pair term)' if v == 0 else ''):
                  (temporal, [f'model.loss.lambda_reg={v}']) for v in lambdas})
    table.update({f'space={v}': (temporal, [f'model.loss.space={v}'])
                  for v in SPACES if v != loss.space})
    table.update({f'weight={v}' + (' (gamma 5)' if v == 'min_snr' else ''):
                  (temporal, [f'model.loss.weight={v}']) for v in WEIGHTS if v != loss.weight})
    table.update({f'offsets d in [{-k},{k}]': (temporal, [
        f'train_dataloader.dataset.offset_range=({-k},{k})']) for k in (1, ) if k != d_max})
    flip = f"{'independent' if loss.share_noise else 'shared'} noise"
    table[flip] = (temporal, [f'model.loss.share_noise={not loss.share_noise}'])
    # the control of that change: the same noising without the pair term
    table[f'{flip}, lambda=0 (control)'] = (
        temporal, [f'model.loss.share_noise={not loss.share_noise}', 'model.loss.lambda_reg=0.0'])
    return table


def slug(name: str) -> str:
    """A variant's work-dir name."""
    return re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')


def choose(rows: list, tolerance: float = ROUGHNESS_TOLERANCE) -> dict:
    """The choice rule of the module docstring, applied to the rows' final metrics."""
    base = next(r for r in rows if r['name'] == BASELINE_NAME)['final']
    reference = next(r for r in rows if r['name'].startswith('recipe ('))
    limit = tolerance * base['Roughness/roughness']
    clean = [r for r in rows if r['name'] != BASELINE_NAME
             and r['final']['Roughness/roughness'] <= limit]
    if not clean:
        return dict(rule='no temporal variant is clean', chosen=None, roughness_limit=limit)
    best = min(clean, key=lambda r: r['final']['FID-val/fid'])

    def gap(to):
        return {label: best['final'][m] - to[m] for label, m in TABLE_METRICS}

    return dict(rule=f'lowest FID-val among temporal variants with roughness <= '
                     f'{tolerance:g} x the baseline\'s', roughness_limit=limit,
                chosen=best['name'], cfg_options=best['cfg_options'],
                minus_baseline=gap(base), minus_recipe=gap(reference['final']),
                beats_baseline_fid_val=best['final']['FID-val/fid'] < base['FID-val/fid'])


def table(rows: list) -> str:
    head = ' | '.join(label for label, _ in TABLE_METRICS)
    lines = [f'| variant | {head} |', '|---|' + '---:|' * len(TABLE_METRICS)]
    for row in rows:
        cells = ' | '.join(f"{row['final'][m]:.4g}" for _, m in TABLE_METRICS)
        lines.append(f"| {row['name']} | {cells} |")
    return '\n'.join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--iters', type=int, default=1000)
    p.add_argument('--eval-interval', type=int, default=500)
    p.add_argument('--fake-nums', type=int, default=256)
    p.add_argument('--sample-steps', type=int, default=25, help='DDIM steps per sample')
    p.add_argument('--data-root', help='a dataset folder instead of the synthetic hands')
    p.add_argument('--only', nargs='+', help='variant names to run (default: all)')
    p.add_argument('--add-variant', nargs='+', action='append', default=[],
                   metavar='NAME [CFG_OPTION ...]',
                   help='a further variant of the temporal recipe: its name, then the '
                        '--cfg-options that make it (repeatable; run even with --only)')
    p.add_argument('--temporal-config', default=TEMPORAL, help='the recipe whose options vary')
    p.add_argument('--baseline-config', default=BASELINE)
    p.add_argument('--work-dir', default='work_dirs/benchmarks/ablation')
    p.add_argument('--out', default='benchmarks/results/ablation.json')
    p.add_argument('--records', help="where each complete variant's run is recorded, to "
                   'commit (benchmarks.records; default: beside --out, <out>_runs/)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    chosen = {k: v for k, v in variants(args.temporal_config, args.baseline_config).items()
              if not args.only or k in args.only}
    for name, *options in args.add_variant:
        if name in chosen:
            raise SystemExit(f'error: --add-variant {name!r}: a variant of that name exists')
        chosen[name] = (args.temporal_config, options)
    records = args.records or osp.splitext(args.out)[0] + '_runs'
    common = budget_options(args.seed, args.iters, args.eval_interval, args.fake_nums,
                            args.sample_steps, checkpoint_interval=args.eval_interval,
                            data_root=args.data_root)
    rows, start = [], time.perf_counter()
    for name, (config, options) in chosen.items():
        work_dir = osp.join(args.work_dir, f'seed{args.seed}', slug(name))
        print(f'{name}:', flush=True)
        record = run_recorded(config, work_dir, common + options, args.iters,
                              args.eval_interval, osp.join(records, f'{slug(name)}.json'))
        c = recorded_curves(record)
        rows.append(dict(name=name, config=config, cfg_options=options, work_dir=work_dir,
                         train_seconds=record['train_seconds'],
                         curves={m: {str(s): v for s, v in c[m].items()}
                                 for _, m in TABLE_METRICS},
                         final={m: c[m][max(c[m])] for m in c}))
    report = dict(command='python -m benchmarks.ablation ' + ' '.join(argv or []),
                  seed=args.seed, iters=args.iters, eval_interval=args.eval_interval,
                  fake_nums=args.fake_nums, sample_steps=args.sample_steps,
                  temporal_config=args.temporal_config, baseline_config=args.baseline_config,
                  records=records, feature_extractor=feature_extractor(args.temporal_config),
                  machine=machine(),
                  minutes=round((time.perf_counter() - start) / 60, 1), variants=rows)
    if any(r['name'] == BASELINE_NAME for r in rows) and any(
            r['name'].startswith('recipe (') for r in rows):
        report['choice'] = choose(rows)
    write_report(args.out, report)
    print('\n' + table(rows))
    if 'choice' in report:
        print(f"\nchoice ({report['choice']['rule']}): {report['choice']['chosen']}")
    return report


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])

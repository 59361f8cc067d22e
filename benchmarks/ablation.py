"""Ablation of the regulariser's options (docs/method.md) at a small budget.

    python -m benchmarks.ablation            # about 35 minutes on 2 CPU cores

Trains the temporal CPU recipe (configs/synthetic_hands_temporal_cpu.py) with one option
changed at a time -- the regulariser's space, its weight w(t), lambda, the offset range and
noise sharing -- and the baseline at equal frames per step, all with the same seed, and
evaluates FID-train and FID-val at two points. Writes benchmarks/results/ablation.json and
prints a Markdown table (docs/results.md). One seed per variant: read differences against
the seed-to-seed spread that benchmarks/convergence.py reports.
"""
import argparse
import json
import os
import os.path as osp
import time

from mmengine.config import Config

from vidreg_mm.models.losses.temporal_reg_loss import SPACES, WEIGHTS

from .runs import ROOT, budget_options, curves, feature_extractor, machine, train

TEMPORAL = 'configs/synthetic_hands_temporal_cpu.py'
BASELINE = 'configs/synthetic_hands_baseline_cpu.py'


def variants() -> dict:
    """name -> (config, --cfg-options): the baseline, the temporal recipe as configured (its
    label states its current options), and each option changed alone."""
    cfg = Config.fromfile(osp.join(ROOT, TEMPORAL))
    loss, (d_min, d_max) = cfg.model.loss, cfg.train_dataloader.dataset.offset_range
    noise = 'shared' if loss.share_noise else 'independent'
    reference = (f'recipe ({loss.space} space, w={loss.weight}, lambda={loss.lambda_reg:g}, '
                 f'd in [{d_min},{d_max}], {noise} noise)')
    table = {'baseline (lambda=0, single frames)': (BASELINE, []), reference: (TEMPORAL, [])}
    table.update({f'space={v}': (TEMPORAL, [f'model.loss.space={v}'])
                  for v in SPACES if v != loss.space})
    table.update({f'weight={v}' + (' (gamma 5)' if v == 'min_snr' else ''):
                  (TEMPORAL, [f'model.loss.weight={v}']) for v in WEIGHTS if v != loss.weight})
    table.update({f'lambda={v:g}': (TEMPORAL, [f'model.loss.lambda_reg={v}'])
                  for v in (0.3 * loss.lambda_reg, 3.0 * loss.lambda_reg)})
    table.update({f'offsets d in [{-k},{k}]': (TEMPORAL, [
        f'train_dataloader.dataset.offset_range=({-k},{k})']) for k in (1, 12)})
    table[f"{'independent' if loss.share_noise else 'shared'} noise"] = (
        TEMPORAL, [f'model.loss.share_noise={not loss.share_noise}'])
    return table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--iters', type=int, default=400)
    p.add_argument('--eval-interval', type=int, default=200)
    p.add_argument('--fake-nums', type=int, default=128)
    p.add_argument('--sample-steps', type=int, default=25, help='DDIM steps per sample')
    p.add_argument('--data-root', help='a dataset folder instead of the synthetic hands')
    p.add_argument('--only', nargs='+', help='variant names to run (default: all)')
    p.add_argument('--work-dir', default='work_dirs/benchmarks/ablation')
    p.add_argument('--out', default='benchmarks/results/ablation.json')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    chosen = {k: v for k, v in variants().items() if not args.only or k in args.only}
    common = budget_options(args.seed, args.iters, args.eval_interval, args.fake_nums,
                            args.sample_steps, checkpoint_interval=args.iters,
                            data_root=args.data_root)
    rows, start = [], time.perf_counter()
    for k, (name, (config, options)) in enumerate(chosen.items()):
        work_dir = osp.join(args.work_dir, f'v{k:02d}')
        print(f'{name}:', flush=True)
        seconds = train(config, work_dir, common + options, args.iters)
        c = curves(work_dir)
        rows.append(dict(name=name, config=config, cfg_options=options, work_dir=work_dir,
                         train_seconds=round(seconds, 1),
                         fid_train={str(s): v for s, v in c['FID-train/fid'].items()},
                         fid_val={str(s): v for s, v in c['FID-val/fid'].items()},
                         final={m: c[m][max(c[m])] for m in c}))
    report = dict(command='python -m benchmarks.ablation ' + ' '.join(argv or []),
                  seed=args.seed, iters=args.iters, eval_interval=args.eval_interval,
                  fake_nums=args.fake_nums, sample_steps=args.sample_steps,
                  feature_extractor=feature_extractor(TEMPORAL), machine=machine(),
                  minutes=round((time.perf_counter() - start) / 60, 1), variants=rows)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)
    steps = sorted(int(s) for s in rows[0]['fid_train'])
    head = ' | '.join(f'FID-train @{s} | FID-val @{s}' for s in steps)
    print(f'\n| variant | {head} |\n|---|' + '---:|' * (2 * len(steps)))
    for row in rows:
        cells = ' | '.join(f"{row['fid_train'][str(s)]:.4f} | {row['fid_val'][str(s)]:.4f}"
                           for s in steps)
        print(f"| {row['name']} | {cells} |")
    print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])

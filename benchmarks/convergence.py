"""Convergence of the temporal recipe against the baseline: FID-train, FID-val and diversity
against iterations, over seeds; gradient variance at several points of training.

    python -m benchmarks.convergence          # about an hour on 2 CPU cores

Trains configs/synthetic_hands_baseline_cpu.py (32 single frames per step, lambda = 0) and
configs/synthetic_hands_temporal_cpu.py (16 pairs = 32 frames per step) for each seed, with
the same budget, evaluates every --eval-interval iterations, and writes
benchmarks/results/convergence.json and convergence.png (mean over seeds, band = min..max).

speedup (per seed, then the mean): iterations the baseline needs to reach its final FID
divided by the iterations the temporal run needs to reach the same FID (first evaluated
iteration at or below it; None when it never does). Reported for FID-train (``speedup``)
and FID-val (``speedup_fid_val``). ``speedup_sustained`` (and ``_fid_val``) count instead the
first evaluation from which a curve stays at or below the target: early FID curves are not
monotone, and a transient dip below the target is not convergence.

Gradient variance: at the seed-0 runs' checkpoints (and the shared initialisation), the
variance of mini-batch gradients of the temporal objective over that of the baseline at the
same parameters and equal frames per batch (tools/analysis/gradient_variance.py).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

from vidreg_mm.convergence import iterations_to

from .runs import (DIVERSITY_METRICS, FID_METRICS, ROOT, budget_options, curves,
                   feature_extractor, machine, train)

RECIPES = ('baseline', 'temporal')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--temporal-config', default='configs/synthetic_hands_temporal_cpu.py')
    p.add_argument('--baseline-config', default='configs/synthetic_hands_baseline_cpu.py')
    p.add_argument('--data-root', help='a dataset folder instead of the synthetic hands')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--iters', type=int, default=800)
    p.add_argument('--eval-interval', type=int, default=100)
    p.add_argument('--fake-nums', type=int, default=128, help='generated samples per eval')
    p.add_argument('--sample-steps', type=int, default=25, help='DDIM steps per sample')
    p.add_argument('--grad-var-iters', type=int, nargs='*', default=[0, 200, 400, 800],
                   help='iterations (checkpoints) to measure gradient variance at')
    p.add_argument('--grad-var-batches', type=int, default=16)
    p.add_argument('--work-dir', default='work_dirs/benchmarks/convergence')
    p.add_argument('--out', default='benchmarks/results/convergence.json')
    return p.parse_args(argv)


def speedup(base: dict, temp: dict) -> dict:
    """Iterations to the baseline's final value, first reached and reached for good."""
    target = base[max(base)]
    it_b, it_t = iterations_to(base, target), iterations_to(temp, target)
    st_b, st_t = (iterations_to(c, target, sustained=True) for c in (base, temp))
    return dict(target=target, baseline_iters=it_b, temporal_iters=it_t,
                speedup=it_b / it_t if it_t else None,
                baseline_iters_sustained=st_b, temporal_iters_sustained=st_t,
                speedup_sustained=st_b / st_t if st_t else None)


def mean_of(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def grad_variance(args, configs, runs_seed0) -> list:
    points = []
    tool = osp.join(ROOT, 'tools', 'analysis', 'gradient_variance.py')
    data_opts = ([f'{s}_dataloader.dataset.data_root={args.data_root}'
                  for s in ('train', 'val', 'test')] if args.data_root else [])
    for it in args.grad_var_iters:
        for recipe in (RECIPES if it else ('init', )):
            ckpt = osp.join(runs_seed0.get(recipe, ''), f'iter_{it}.pth')
            if it and not osp.isfile(ckpt):
                print(f'  no {ckpt}: gradient variance at {it} skipped', flush=True)
                continue
            out = osp.join(args.work_dir, 'grad_variance', f'{recipe}_{it}.json')
            if not osp.isfile(out):
                cmd = [sys.executable, tool, configs['temporal'], configs['baseline'],
                       '--num-batches', str(args.grad_var_batches), '--out', out]
                if it:
                    cmd += ['--checkpoint', ckpt]
                if data_opts:
                    cmd += ['--cfg-options', *data_opts]
                subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            with open(out) as f:
                res = json.load(f)
            points.append(dict(
                iteration=it, parameters_of=recipe,
                temporal=res['results']['temporal']['grad_variance'],
                baseline=res['results']['baseline']['grad_variance'],
                ratio_temporal_over_baseline=res['variance_ratio_temporal_over_baseline']))
            print(f"  gradient variance at {it} ({recipe} parameters): ratio "
                  f"{points[-1]['ratio_temporal_over_baseline']:.3f}", flush=True)
    return points


def plot(report: dict, path: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, metric in zip(axes, FID_METRICS):
        for recipe, color in zip(RECIPES, ('tab:gray', 'tab:red')):
            per_seed = [report['curves'][recipe][str(s)][metric] for s in report['seeds']]
            steps = sorted(int(k) for k in per_seed[0])
            vals = [[c[str(k)] for c in per_seed] for k in steps]
            ax.fill_between(steps, [min(v) for v in vals], [max(v) for v in vals],
                            color=color, alpha=0.2, linewidth=0)
            ax.plot(steps, [statistics.fmean(v) for v in vals], marker='o', color=color,
                    label=f'{recipe} (mean, min-max over {len(per_seed)} seeds)')
        ax.set_title(metric.split('/')[0])
        ax.set_xlabel('iteration')
        ax.set_ylabel(f"FID ({report['feature_extractor']})", fontsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fmt = (lambda v: f'{v:.2f}x' if v else 'not reached')
    fig.suptitle("iterations to the baseline's final FID-train, baseline / temporal (mean over "
                 f"seeds): first reached {fmt(report['speedup'])}, reached for good "
                 f"{fmt(report.get('speedup_sustained'))}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    configs = dict(baseline=args.baseline_config, temporal=args.temporal_config)
    start, seconds, all_curves, runs_seed0 = time.perf_counter(), {}, {r: {} for r in RECIPES}, {}
    for seed in args.seeds:
        for recipe in RECIPES:
            work_dir = osp.join(args.work_dir, f'{recipe}_seed{seed}')
            print(f'{recipe}, seed {seed}:', flush=True)
            opts = budget_options(seed, args.iters, args.eval_interval, args.fake_nums,
                                  args.sample_steps, checkpoint_interval=200,
                                  data_root=args.data_root)
            seconds[f'{recipe}_seed{seed}'] = round(train(configs[recipe], work_dir, opts,
                                                          args.iters), 1)
            all_curves[recipe][str(seed)] = {
                m: {str(k): v for k, v in c.items()} for m, c in curves(work_dir).items()}
            if seed == args.seeds[0]:
                runs_seed0[recipe] = work_dir
    per_seed = {}
    for seed in map(str, args.seeds):
        per_seed[seed] = {}
        for metric in FID_METRICS:
            b, t = ({int(k): v for k, v in all_curves[r][seed][metric].items()}
                    for r in RECIPES)
            per_seed[seed][metric] = speedup(b, t)
    final = {r: {m: {s: all_curves[r][s][m][str(args.iters)] for s in map(str, args.seeds)}
                 for m in FID_METRICS + DIVERSITY_METRICS} for r in RECIPES}
    final_mean = {r: {m: statistics.fmean(v.values()) for m, v in final[r].items()}
                  for r in RECIPES}
    print('gradient variance:', flush=True)
    grad = grad_variance(args, configs, runs_seed0)
    report = dict(
        command='python -m benchmarks.convergence ' + ' '.join(argv or []),
        configs=configs, data_root=args.data_root or 'data/synthetic_hands (generated)',
        seeds=args.seeds, iters=args.iters, eval_interval=args.eval_interval,
        fake_nums=args.fake_nums, sample_steps=args.sample_steps,
        frames_per_step=32, feature_extractor=feature_extractor(args.temporal_config),
        speedup=mean_of(per_seed[s]['FID-train/fid']['speedup'] for s in per_seed),
        speedup_fid_val=mean_of(per_seed[s]['FID-val/fid']['speedup'] for s in per_seed),
        speedup_sustained=mean_of(per_seed[s]['FID-train/fid']['speedup_sustained']
                                  for s in per_seed),
        speedup_sustained_fid_val=mean_of(per_seed[s]['FID-val/fid']['speedup_sustained']
                                          for s in per_seed),
        speedup_per_seed=per_seed, final=final, final_mean=final_mean,
        gradient_variance=grad, curves=all_curves, machine=machine(),
        train_seconds=seconds, train_minutes=round(sum(seconds.values()) / 60, 1),
        minutes=round((time.perf_counter() - start) / 60, 1))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)
    png = osp.splitext(args.out)[0] + '.png'
    plot(report, png)
    for metric in FID_METRICS:
        print(f"{metric}: baseline {final_mean['baseline'][metric]:.4f}, temporal "
              f"{final_mean['temporal'][metric]:.4f} at {args.iters} (mean of "
              f'{len(args.seeds)} seeds)')
    fmt = (lambda v: f'{v:.2f}x' if v else 'not reached')
    print(f"speed-up (FID-train): {fmt(report['speedup'])}; (FID-val): "
          f"{fmt(report['speedup_fid_val'])}; sustained (FID-train): "
          f"{fmt(report['speedup_sustained'])}; (FID-val): "
          f"{fmt(report['speedup_sustained_fid_val'])}")
    print(f'wrote {args.out} and {png}')
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

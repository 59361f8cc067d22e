"""Plot FID against iteration for several runs; iterations to a target FID and speed-ups.

    python tools/analysis/plot_convergence.py work_dirs/baseline work_dirs/temporal \
        --metric FID-val/fid --out-dir work_dirs/convergence

Reads every ``<work_dir>/<timestamp>/vis_data/scalars.json`` of each run (a resumed run's
later records replace earlier ones of the same step). The first run is the reference: the
target defaults to its final value, and each run's speed-up is the reference's iterations to
the target divided by the run's, each counted from where the curve stays at or below the
target, interpolated linearly between evaluations (vidreg_mm.convergence.speedup; the first
evaluation at or below it is reported as ``..._first_crossing``). Writes ``convergence.png``
and ``convergence.json``.
"""
import argparse
import json
import os
import os.path as osp

from vidreg_mm.convergence import read_curve, summarize


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work_dirs', nargs='+', help='run work dirs; the first is the reference')
    p.add_argument('--metric', default='FID-val/fid', help='logged metric (lower is better)')
    p.add_argument('--target', type=float, help="default: the reference's final value")
    p.add_argument('--labels', nargs='+', help='one per work dir (default: folder names)')
    p.add_argument('--out-dir', default='.', help='where the PNG and JSON go')
    return p.parse_args(argv)


def plot(summary: dict, metric: str, path: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, points in summary['curves'].items():
        steps, values = zip(*points)
        ax.plot(steps, values, marker='o', label=label)
    ax.axhline(summary['target'], color='gray', linestyle='--', linewidth=1,
               label=f"target {summary['target']:.4g}")
    ax.set_xlabel('iteration')
    ax.set_ylabel(metric)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(d)) for d in args.work_dirs]
    if len(labels) != len(args.work_dirs) or len(set(labels)) != len(labels):
        raise SystemExit('error: give one distinct label per work dir')
    curves = {label: read_curve(d, args.metric) for label, d in zip(labels, args.work_dirs)}
    summary = dict(metric=args.metric, work_dirs=dict(zip(labels, args.work_dirs)),
                   **summarize(curves, args.target))
    os.makedirs(args.out_dir, exist_ok=True)
    png, out = osp.join(args.out_dir, 'convergence.png'), osp.join(args.out_dir,
                                                                   'convergence.json')
    plot(summary, args.metric, png)
    with open(out, 'w') as f:
        json.dump(summary, f, indent=2)
    for label in labels:
        it, sp = summary['iterations_to_target'][label], summary['speedup'][label]
        print(f"{label}: final {summary['final'][label]:.4g}, reaches "
              f"{summary['target']:.4g} for good at "
              f"{f'{it:.0f}' if it is not None else 'never'}"
              + (f', speed-up {sp:.2f}x' if sp else ''))
    print(f'wrote {png} and {out}')
    return summary


if __name__ == '__main__':
    main()

"""The pilot of a comparison: the baseline alone, trained on a seed that is not reported,
to find the budget at which it reaches its plateau before any reported run starts.

    python -m benchmarks.plateau --name bc32_lr1e-3 \
        --pose-regressor work_dirs/benchmarks/pose_regressor/articulation.pth

Trains ``--config`` (tools/train.py, resumable) for ``--iters`` steps with an evaluation every
``--eval-interval`` (the config's metrics, and the pose regressor's where one is given) and a
grid of samples at each (``samples/iter_N.png``), and settings to try as ``--cfg-options``.
Where the learning rate is constant after the warm-up, the first B steps of the run are the
run of budget B: for every budget B that holds at least three evaluations the report gives the
relative change of FID-train over B's last third (from the evaluation nearest 2B/3 to B; the
criterion: below ``--tolerance``). Where the config's schedule decays to the end of its run
(:func:`benchmarks.runs.schedule_options`), it decays to ``--iters`` and only that budget is
judged: an earlier evaluation is not the end of a run. Within such a run the last third
falls while the rate decays, so the criterion compares budgets instead: ``--shorter`` names
the report of the same pilot at a shorter budget (two thirds of ``--iters``, say), and
budget B is at the plateau when the run of ``--iters`` does not end with a FID-train more
than ``--tolerance`` (relative) below the run of B: training longer does not help
(:func:`budget_extension`). The report also gives the minutes a run of budget B with
``--points`` evaluations takes (the median logged seconds per step, and the median seconds
of the run's evaluations, from its logs: see :func:`benchmarks.runs.evaluation_seconds`).
Writes ``--out`` (default benchmarks/results/plateau_<name>.json) and a figure of the sample
grids at four budgets next to real val frames (``..._samples.png``).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys

from .comparison import flattened
from .figures import grids_figure
from .runs import (FID_METRICS, ROOT, budget_options, curves, evaluation_seconds, machine,
                   schedule_options, seconds_per_step, train, write_report)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default='configs/synthetic_hands_articulation_baseline_cpu.py')
    p.add_argument('--name', required=True, help='names the work dir and the report')
    p.add_argument('--seed', type=int, default=1, help='a seed that no comparison reports')
    p.add_argument('--iters', type=int, default=6000)
    p.add_argument('--eval-interval', type=int, default=500)
    p.add_argument('--fake-nums', type=int, default=256)
    p.add_argument('--sample-steps', type=int, default=25)
    p.add_argument('--tolerance', type=float, default=0.05,
                   help='largest relative change of FID-train over the last third')
    p.add_argument('--points', type=int, default=8,
                   help='evaluations of a reported run, for its time estimate')
    p.add_argument('--pose-regressor', help='add the pose metrics of this regressor')
    p.add_argument('--pose-min-r2', type=float, default=0.8)
    p.add_argument('--cfg-options', nargs='*', default=[],
                   help='settings to try (key=value), e.g. model.unet.base_channels=64')
    p.add_argument('--shorter', help='the report of this pilot at a shorter budget, for a '
                   'schedule that decays to the budget (judges the shorter budget)')
    p.add_argument('--work-dir', default='work_dirs/benchmarks/plateau')
    p.add_argument('--out', help='default: benchmarks/results/plateau_<name>.json')
    return p.parse_args(argv)


def last_third_changes(curve: dict, interval: int) -> dict:
    """For every budget B (an evaluated step with at least three evaluations up to it): the
    relative change of the curve from the evaluation nearest 2B/3 to B, (v(2B/3) - v(B)) /
    v(B); positive while the metric still falls (the criterion of
    :func:`benchmarks.comparison.flattened`, applied to the run cut at B)."""
    curve = {int(k): v for k, v in curve.items()}
    out = {}
    for budget in sorted(curve):
        if budget >= 3 * interval:
            cut = flattened({k: v for k, v in curve.items() if k <= budget})
            out[budget] = dict(from_iteration=cut['from_iteration'],
                               relative_change=cut['relative_change'])
    return out


#: what a pilot at a shorter budget must share with the longer one to be compared
SAME_SETTINGS = ('config', 'settings', 'seed', 'fake_nums', 'sample_steps', 'schedule')


def budget_extension(shorter: dict, longer: dict, tolerance: float) -> dict:
    """Whether the shorter budget of two pilot reports is at the plateau: for a schedule that
    decays to the budget, the change of the final FID-train from the run of the shorter
    budget to the run of the longer one, (v_short - v_long) / v_long (positive when the longer
    run ends lower), and ``plateau`` when it is below ``tolerance``: the longer budget does
    not end more than ``tolerance`` lower (a longer run that ends higher shows that training
    longer does not help). The reports must share :data:`SAME_SETTINGS` and decay to their
    budgets."""
    for key in SAME_SETTINGS:
        if shorter.get(key) != longer.get(key):
            raise ValueError(f'--shorter: the reports differ in {key!r} '
                             f'({shorter.get(key)!r} against {longer.get(key)!r})')
    if longer['schedule'] != 'decays to the budget':
        raise ValueError('--shorter compares runs whose schedule decays to the budget; at a '
                         'constant rate the budgets are prefixes of one run')
    if shorter['iters'] >= longer['iters']:
        raise ValueError(f"--shorter: its budget ({shorter['iters']}) is not shorter than "
                         f"{longer['iters']}")
    fid = [r['curves'][FID_METRICS[0]][str(r['iters'])] for r in (shorter, longer)]
    change = (fid[0] - fid[1]) / fid[1]
    return dict(shorter=shorter['iters'], longer=longer['iters'],
                fid_train={str(shorter['iters']): fid[0], str(longer['iters']): fid[1]},
                relative_change=change, plateau=change < tolerance)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    work_dir = osp.join(args.work_dir, args.name)
    out = args.out or f'benchmarks/results/plateau_{args.name}.json'
    config = args.config
    pose = None
    if args.pose_regressor:
        from .pose_diversity import with_pose_metrics
        from .pose_regressor import checked_regressor
        reg, angles = checked_regressor(args.pose_regressor, args.pose_min_r2)
        config = with_pose_metrics(args.config, args.pose_regressor, angles, args.fake_nums,
                                   osp.join(work_dir, 'config_with_pose_metrics.py'))
        pose = dict(regressor=args.pose_regressor, angles=angles,
                    val_r2={a: reg['val_accuracy']['r2'][a] for a in angles})
    opts = budget_options(args.seed, args.iters, args.eval_interval, args.fake_nums,
                          args.sample_steps, checkpoint_interval=args.eval_interval)
    opts += [f'default_hooks.sample_grid.interval={args.eval_interval}', *args.cfg_options]
    seconds = train(config, work_dir, opts, args.iters)
    found = curves(work_dir)
    fid = found[FID_METRICS[0]]
    changes = last_third_changes(fid, args.eval_interval)
    decays = bool(schedule_options(args.config, args.iters))
    if decays:  # the schedule ends with the run: only the run's own budget is judged
        changes = {b: c for b, c in changes.items() if b == args.iters}
    step_s = seconds_per_step(work_dir)
    eval_times = evaluation_seconds(work_dir)
    # the first evaluation of a run may compute the real frames' features, which are cached
    # for every later run of the data: a run's evaluations cost the median
    eval_s = statistics.median(eval_times.values()) if eval_times else None
    budgets = {
        str(b): dict(c, plateau=abs(c['relative_change']) < args.tolerance,
                     estimated_minutes=(round((step_s * b + eval_s * args.points) / 60, 1)
                                        if eval_s is not None else None))
        for b, c in changes.items()}
    reached = [int(b) for b, c in budgets.items() if c['plateau']]
    report = dict(
        command='python -m benchmarks.plateau ' + ' '.join(argv or []),
        config=args.config, settings=args.cfg_options, seed=args.seed, iters=args.iters,
        eval_interval=args.eval_interval, fake_nums=args.fake_nums,
        sample_steps=args.sample_steps, tolerance=args.tolerance, pose=pose,
        schedule='decays to the budget' if decays else 'constant after the warm-up',
        budgets=budgets, first_plateau_budget=min(reached) if reached else None,
        seconds_per_step=round(step_s, 3),
        seconds_per_evaluation=round(eval_s, 1) if eval_s is not None else None,
        evaluation_seconds={str(k): round(v, 1) for k, v in eval_times.items()},
        train_minutes=round(seconds / 60, 1),
        sample_grids={str(k): osp.join(work_dir, 'samples', f'iter_{k}.png') for k in fid},
        curves={m: {str(k): v for k, v in c.items()} for m, c in found.items()},
        machine=machine())
    if args.shorter:
        with open(args.shorter) as f:
            extension = budget_extension(json.load(f), report, args.tolerance)
        report['budget_extension'] = dict(extension, shorter_report=args.shorter)
        if extension['plateau']:
            report['first_plateau_budget'] = min(reached + [extension['shorter']])
    write_report(out, report)
    steps = sorted(fid)
    picks = sorted({steps[round(i * (len(steps) - 1) / 3)] for i in range(4)})
    png = grids_figure([(f'iteration {k}', report['sample_grids'][str(k)]) for k in picks],
                       args.config, osp.splitext(out)[0] + '_samples.png')
    for b, c in budgets.items():
        trend = ('plateau' if c['plateau'] else
                 'falling' if c['relative_change'] > 0 else 'rising')
        print(f"budget {b}: FID-train {fid[int(b)]:.2f}, change over the last third "
              f"{100 * c['relative_change']:+.1f}% ({trend})"
              f", about {c['estimated_minutes']} min with {args.points} evaluations")
    if args.shorter:
        e = report['budget_extension']
        print(f"budget {e['shorter']} extended to {e['longer']}: final FID-train "
              f"{e['fid_train'][str(e['shorter'])]:.2f} -> {e['fid_train'][str(e['longer'])]:.2f}"
              f" ({100 * e['relative_change']:+.1f}%: "
              f"{'plateau' if e['plateau'] else 'still falling'} at {e['shorter']})")
    print(f'wrote {png}')
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

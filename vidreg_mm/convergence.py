"""Read metric curves from training logs; iterations to a target value and speed-ups.

Shared by tools/analysis/plot_convergence.py and benchmarks/convergence.py.
"""
import glob
import json
import os.path as osp
from typing import Dict, Iterable, List, Optional


def read_curves(work_dir: str, metrics: Iterable[str]) -> Dict[str, Dict[int, float]]:
    """{metric: {iteration: value}} over every ``<work_dir>/<timestamp>/vis_data/scalars.json``
    of a run; a resumed run's later records replace earlier ones of the same step."""
    metrics = list(metrics)
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}')
    curves = {m: {} for m in metrics}
    for path in files:  # timestamps sort in time order: later logs win
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                for m in metrics:
                    if m in record:
                        curves[m][int(record['step'])] = float(record[m])
    for m, curve in curves.items():
        if not curve:
            raise ValueError(f'{work_dir}: no record of {m!r} in {files}')
    return {m: dict(sorted(c.items())) for m, c in curves.items()}


def read_curve(work_dir: str, metric: str) -> Dict[int, float]:
    """{iteration: value} of ``metric`` over every log of a run."""
    return read_curves(work_dir, [metric])[metric]


def iterations_to(curve: Dict[int, float], target: float, sustained: bool = False,
                  interpolate: bool = False) -> Optional[float]:
    """Iterations a run needs to reach ``target`` (lower is better); None when it does not.

    The first logged iteration at which the metric is at or below ``target``; with
    ``sustained``, the first from which it stays there at every later evaluation (early
    curves of diffusion training are not monotone: a transient dip is not convergence).

    With ``interpolate`` the curve is taken as piecewise linear between evaluations, and the
    crossing is placed where the segment from the last evaluation above the target to that
    one meets it: ``s0 + (s1 - s0) * (v0 - target) / (v0 - v1)``. A curve already at the
    target at its first evaluation gives that evaluation's iteration (nothing is known before
    it). Without it, ratios of iterations can only take the values that the evaluation grid
    allows (with points 100 apart: 8.0, 4.0, 2.67, 2.0 ...).
    """
    steps = list(curve)
    for k, step in enumerate(steps):
        if curve[step] <= target and (not sustained or
                                      all(curve[s] <= target for s in steps[k:])):
            if not interpolate or k == 0:
                return step
            s0, v0, v1 = steps[k - 1], curve[steps[k - 1]], curve[step]
            return s0 + (step - s0) * (v0 - target) / (v0 - v1)
    return None


def speedup(base: Dict[int, float], temp: Dict[int, float],
            target: Optional[float] = None) -> dict:
    """Iterations the baseline needs to reach ``target`` (default: its final value) over
    those the other run needs.

    ``speedup`` is the sustained, interpolated figure: each run's iterations from which it
    stays at or below the target (:func:`iterations_to` with ``sustained`` and
    ``interpolate``). ``speedup_first_crossing`` counts the first evaluation at or below the
    target instead, on the evaluation grid, as earlier versions reported it.
    """
    if target is None:
        target = base[max(base)]
    it_b, it_t = (iterations_to(c, target, sustained=True, interpolate=True)
                  for c in (base, temp))
    fc_b, fc_t = (iterations_to(c, target) for c in (base, temp))
    return dict(target=target, baseline_iters=it_b, temporal_iters=it_t,
                speedup=it_b / it_t if it_b and it_t else None,
                baseline_iters_first_crossing=fc_b, temporal_iters_first_crossing=fc_t,
                speedup_first_crossing=fc_b / fc_t if fc_b and fc_t else None)


def speedups_along(base: Dict[int, float], temp: Dict[int, float]) -> Dict[int, dict]:
    """:func:`speedup` at several targets along the baseline's curve: its value at each of
    its evaluations (keyed by that iteration), the last one being its final value."""
    return {step: speedup(base, temp, target=value) for step, value in base.items()}


def summarize(curves: Dict[str, Dict[int, float]], target: Optional[float] = None) -> dict:
    """The first curve is the reference: ``target`` defaults to its final value; each run's
    speed-up is the reference's iterations to the target divided by the run's, with the
    definition of :func:`speedup` (reached for good, interpolated between evaluations);
    ``iterations_first_crossing`` and ``speedup_first_crossing``: the first evaluation at or
    below the target, on the evaluation grid."""
    labels: List[str] = list(curves)
    reference = curves[labels[0]]
    if target is None:
        target = reference[max(reference)]
    per_run = {label: speedup(reference, curve, target) for label, curve in curves.items()}
    return dict(target=target, reference=labels[0],
                iterations_to_target={k: r['temporal_iters'] for k, r in per_run.items()},
                speedup={k: r['speedup'] for k, r in per_run.items()},
                iterations_first_crossing={k: r['temporal_iters_first_crossing']
                                           for k, r in per_run.items()},
                speedup_first_crossing={k: r['speedup_first_crossing']
                                        for k, r in per_run.items()},
                final={k: c[max(c)] for k, c in curves.items()},
                curves={k: [[s, v] for s, v in c.items()] for k, c in curves.items()})

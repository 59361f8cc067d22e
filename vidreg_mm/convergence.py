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


def iterations_to(curve: Dict[int, float], target: float,
                  sustained: bool = False) -> Optional[int]:
    """First logged iteration at which the metric is at or below ``target``; with
    ``sustained``, the first from which it stays there at every later evaluation (early
    curves of diffusion training are not monotone: a transient dip is not convergence)."""
    steps = list(curve)
    for k, step in enumerate(steps):
        if curve[step] <= target and (not sustained or
                                      all(curve[s] <= target for s in steps[k:])):
            return step
    return None


def summarize(curves: Dict[str, Dict[int, float]], target: Optional[float] = None) -> dict:
    """The first curve is the reference: ``target`` defaults to its final value; each run's
    speed-up is the reference's iterations to the target divided by the run's."""
    labels: List[str] = list(curves)
    reference = curves[labels[0]]
    if target is None:
        target = reference[max(reference)]
    iters = {label: iterations_to(curve, target) for label, curve in curves.items()}
    ref_iters = iters[labels[0]]
    speedup = {label: (ref_iters / it if it and ref_iters else None)
               for label, it in iters.items()}
    return dict(target=target, reference=labels[0], iterations_to_target=iters,
                speedup=speedup, final={k: c[max(c)] for k, c in curves.items()},
                curves={k: [[s, v] for s, v in c.items()] for k, c in curves.items()})

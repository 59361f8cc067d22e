"""What a comparison of two recipes over seeds reports: speed-ups along the baseline's
curve, the gaps at the last evaluation, and whether the baseline has flattened."""
import statistics

from vidreg_mm.convergence import speedup, speedups_along

from .runs import RECIPES, SPEEDUP_METRICS


def all_or_none(values, reduce):
    """``reduce`` of the values, None if any is None (a seed that never got there)."""
    values = list(values)
    return None if not values or any(v is None for v in values) else reduce(values)


def summarize_speedups(curves_by_recipe: dict, seeds) -> dict:
    """The report's speed-up keys from {recipe: {seed: {metric: {iteration: value}}}}."""
    report = {}
    for metric, suffix in SPEEDUP_METRICS.items():
        per_seed, along = {}, {}
        for seed in map(str, seeds):
            b, t = ({int(k): v for k, v in curves_by_recipe[r][seed][metric].items()}
                    for r in RECIPES)
            per_seed[seed] = speedup(b, t)
            along[seed] = speedups_along(b, t)
        values = [per_seed[s]['speedup'] for s in per_seed]
        report[f'speedup{suffix}'] = all_or_none(values, statistics.fmean)
        report[f'speedup{suffix}_min'] = all_or_none(values, min)
        report[f'speedup{suffix}_per_seed'] = dict(zip(per_seed, values))
        report[f'speedup{suffix}_first_crossing'] = all_or_none(
            (per_seed[s]['speedup_first_crossing'] for s in per_seed), statistics.fmean)
        report[f'speedup{suffix}_details'] = per_seed
        steps = sorted(set.intersection(*(set(a) for a in along.values())))
        report[f'speedup{suffix}_at_targets'] = {
            str(step): dict(
                target_mean=statistics.fmean(along[s][step]['target'] for s in along),
                per_seed={s: along[s][step]['speedup'] for s in along},
                mean=all_or_none((along[s][step]['speedup'] for s in along), statistics.fmean),
                min=all_or_none((along[s][step]['speedup'] for s in along), min))
            for step in steps}
    return report


def final_gap(curves_by_recipe: dict, seeds, metrics) -> dict:
    """Each metric at the last evaluation: per seed, the paired baseline - temporal
    difference and each recipe's spread (max - min) over seeds."""
    out = {}
    for metric in metrics:
        last = {r: {str(s): (lambda c: c[max(c, key=int)])(curves_by_recipe[r][str(s)][metric])
                    for s in seeds} for r in RECIPES}
        diff = {s: last['baseline'][s] - last['temporal'][s] for s in last['baseline']}
        out[metric] = dict(
            baseline=last['baseline'], temporal=last['temporal'],
            baseline_mean=statistics.fmean(last['baseline'].values()),
            temporal_mean=statistics.fmean(last['temporal'].values()),
            baseline_minus_temporal=diff,
            baseline_minus_temporal_mean=statistics.fmean(diff.values()),
            baseline_spread=max(last['baseline'].values()) - min(last['baseline'].values()),
            temporal_spread=max(last['temporal'].values()) - min(last['temporal'].values()))
    return out


def flattened(curve: dict, tolerance: float = 0.05) -> dict:
    """Whether a curve changed by less than ``tolerance`` of its final value over the last
    third of its iterations (compared with the evaluation nearest to two thirds)."""
    curve = {int(k): v for k, v in curve.items()}
    last = max(curve)
    ref = min(curve, key=lambda k: abs(k - 2 * last / 3))
    change = (curve[ref] - curve[last]) / abs(curve[last])
    return dict(from_iteration=ref, relative_change=change, flattened=abs(change) < tolerance)


def print_final_gaps(report: dict, metrics=('FID-train/fid', 'FID-val/fid')):
    """One line per metric: both recipes' means at the last evaluation, their paired
    difference and each recipe's spread over the report's seeds."""
    for metric in metrics:
        gap = report['final_gap'][metric]
        print(f"{metric}: baseline {gap['baseline_mean']:.2f}, temporal "
              f"{gap['temporal_mean']:.2f} (baseline - temporal "
              f"{gap['baseline_minus_temporal_mean']:+.2f}; spread "
              f"{gap['baseline_spread']:.2f} / {gap['temporal_spread']:.2f}; seeds "
              f"{report['seeds']})", flush=True)

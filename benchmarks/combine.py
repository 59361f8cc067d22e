"""One report of a comparison whose seeds were measured by separate invocations (e.g. seeds
rescored from their checkpoints by benchmarks.rescore and a seed trained again by
benchmarks.convergence, when its checkpoints were gone): the curves of every seed, and the
speed-ups, final gaps and figure recomputed over all of them.

    python -m benchmarks.combine benchmarks/results/convergence_articulation_ddpm.json \
        benchmarks/results/convergence_articulation_ddpm_seed0.json \
        --out benchmarks/results/convergence_articulation_ddpm_3seeds.json

Reports are combined only when they measure the same thing: the same budget, the same
recipe labels, the same feature extractor and the same sampler (its ``model.sampler`` from
the report's --cfg-options, else from the config), and seeds that do not repeat; otherwise a
ValueError names the report and what differs. The config files are not compared by name (a
rescored report names the derived configs its runs dumped in their work dir, e.g.
``baseline_config_with_pose_metrics.py``, a retrained one the study's): each source's configs
are kept in ``sources`` for the reader to check. Beside the report,
``<out>.png`` (the curves of benchmarks.convergence's figure, over all seeds).
"""
import argparse
import json
import os.path as osp
import sys

from .comparison import final_gap, flattened, print_final_gaps, summarize_speedups
from .figures import plot
from .runs import RECIPES, ROOT, write_report


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('reports', nargs='+',
                        help='reports of benchmarks.convergence or benchmarks.rescore')
    parser.add_argument('--out', required=True)
    return parser.parse_args(argv)


def sampler_of(path: str, report: dict) -> str:
    """The sampler that made the report's samples: its ``model.sampler=`` option, else the
    temporal config's ``model.sampler``; a ValueError when neither says."""
    for option in report.get('cfg_options') or []:
        key, _, value = option.partition('=')
        if key == 'model.sampler':
            return value.strip('\'"')
    config = report['configs']['temporal']
    config = config if osp.isabs(config) else osp.join(ROOT, config)
    if not osp.isfile(config):
        raise ValueError(f'{path}: no model.sampler in its cfg_options and its config {config} '
                         'is not here to read it from')
    from mmengine.config import Config
    sampler = Config.fromfile(config).model.get('sampler')
    if sampler is None:
        raise ValueError(f'{path}: {config} has no model.sampler')
    return sampler


def identity(path: str, report: dict) -> dict:
    """What two reports must share to be combined."""
    return dict(iters=report['iters'],
                labels=list(report.get('labels', RECIPES)),
                feature_extractor=report['feature_extractor'],
                sampler=sampler_of(path, report))


def combine(paths) -> dict:
    reports = {}
    for path in paths:
        with open(path) as f:
            reports[path] = json.load(f)
    ids = {p: identity(p, r) for p, r in reports.items()}
    first = paths[0]
    for path in paths[1:]:
        differs = [k for k in ids[first] if ids[path][k] != ids[first][k]]
        if differs:
            detail = '; '.join(f'{k}: {ids[path][k]!r} against {ids[first][k]!r} in {first}'
                               for k in differs)
            raise ValueError(f'{path} measures something else ({detail})')
    seeds, source_of = [], {}
    for path, report in reports.items():
        for seed in report['seeds']:
            if seed in source_of:
                raise ValueError(f'seed {seed} is in both {source_of[seed]} and {path}')
            source_of[seed] = path
            seeds.append(seed)
    curves = {r: {str(s): reports[source_of[s]]['curves'][r][str(s)] for s in seeds}
              for r in RECIPES}
    metrics = sorted(set.intersection(*(set(curves[r][str(s)]) for r in RECIPES for s in seeds)))
    return dict(
        sources=[dict(report=p, seeds=reports[p]['seeds'], configs=reports[p]['configs'],
                      command=reports[p].get('command')) for p in paths],
        configs=reports[first]['configs'], labels=ids[first]['labels'],
        seeds=seeds, iters=ids[first]['iters'], sampler=ids[first]['sampler'],
        feature_extractor=ids[first]['feature_extractor'],
        baseline_flattened={s: flattened(curves['baseline'][str(s)]['FID-train/fid'],
                                         reports[first].get('plateau_tolerance', 0.05))
                            for s in seeds},
        # the pose regressor copy that scored each seed, where its report says (pose metrics
        # are paired within a seed: benchmarks.convergence)
        pose_per_seed={str(s): ((reports[source_of[s]].get('pose') or {}).get('per_seed')
                                or {}).get(str(s)) for s in seeds},
        **summarize_speedups(curves, seeds),
        final_gap=final_gap(curves, seeds, metrics), curves=curves)


def main(argv=None):
    args = parse_args(argv)
    report = dict(command='python -m benchmarks.combine ' + ' '.join(argv or sys.argv[1:]),
                  **combine(args.reports))
    write_report(args.out, report)
    png = osp.splitext(args.out)[0] + '.png'
    plot(report, png)
    print_final_gaps(report)
    print(f'wrote {args.out} and {png}')
    return report


if __name__ == '__main__':
    main()

"""Score a finished comparison's checkpoints again with other evaluation settings (e.g. another
sampler), without training: the same runs, the same metrics, the new numbers.

    python -m benchmarks.rescore --work-dir work_dirs/benchmarks/convergence_articulation \
        --seeds 2 3 --cfg-options model.sampler=ddpm \
        --out benchmarks/results/convergence_articulation_ddpm.json

Each run of benchmarks.convergence keeps its checkpoints (``iter_<N>.pth``) and the config
the Runner ran (the config with every option applied, in ``<work-dir>/<recipe>_seed<s>/``).
Every checkpoint is scored by tools/test.py with that config, with the sample counts of its
validation metrics (the same samples, seeds and real frames as the run's own evaluations), and the
``--cfg-options``, into ``<run>/rescore_<tag>/evaluation_iter_<N>.json`` (``--tag``:
default from the options); a checkpoint already scored is not scored again, so an interrupted
invocation continues. The final checkpoints of all runs are scored first, so that a partial
invocation already gives the final gaps.

The report has the keys of benchmarks.convergence's (speed-ups along the baseline's curve,
final gaps and spread over seeds, curves) for the rescored numbers, the original curves under
``original_curves`` and the options under ``cfg_options``; beside it ``<out>.png`` (curves)
and ``<out>_samples.png`` (16 samples of each recipe's final checkpoint of the first seed, by
tools/generate.py with the same options, next to real val frames).
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

from mmengine.config import Config

from .comparison import final_gap, flattened, print_final_gaps, summarize_speedups
from .figures import grids_figure, plot
from .runs import (CURVE_METRICS, POSE_METRICS, RECIPES, ROOT, curves, feature_extractor, machine,
                   score_checkpoint, scored_checkpoints, write_report)

_ITER = re.compile(r'iter_(\d+)\.pth$')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', required=True,
                        help="a benchmarks.convergence work dir (its '<recipe>_seed<s>' runs)")
    parser.add_argument('--seeds', type=int, nargs='+', required=True)
    parser.add_argument('--cfg-options', nargs='+', required=True, metavar='KEY=VALUE',
                        help='what to change in the evaluation, e.g. model.sampler=ddpm')
    parser.add_argument('--tag', help='name of the rescoring (default: from the options)')
    parser.add_argument('--out', required=True)
    parser.add_argument('--labels', nargs=2, default=list(RECIPES),
                        metavar=('BASELINE', 'TEMPORAL'))
    return parser.parse_args(argv)


def tag_of(options) -> str:
    """A folder name for the options: 'model.sampler=ddpm' -> 'sampler-ddpm'."""
    parts = [o.split('=', 1)[0].rsplit('.', 1)[-1] + '-' + o.split('=', 1)[1] for o in options]
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', '_'.join(parts))


def run_config(run_dir: str) -> str:
    """The config the Runner ran in ``run_dir`` (its dump at the top of the work dir)."""
    found = sorted(glob.glob(osp.join(run_dir, '*.py')))
    if len(found) != 1:
        raise FileNotFoundError(f'{run_dir}: expected the one config the Runner wrote there, '
                                f'found {found or "none"}')
    return found[0]


def checkpoints(run_dir: str) -> dict:
    """{iteration: path} of the run's ``iter_<N>.pth``."""
    found = {}
    for path in glob.glob(osp.join(run_dir, 'iter_*.pth')):
        m = _ITER.search(path)
        if m:
            found[int(m.group(1))] = path
    if not found:
        raise FileNotFoundError(f'{run_dir}: no iter_<N>.pth checkpoints to score')
    return found


def evaluation_options(config: str, options) -> list:
    """--cfg-options for tools/test.py: the sample count of each validation metric of the run
    for its test metric of the same name (the dumped test_evaluator keeps the recipe's), then
    ``options``. A config whose test metrics are not its validation metrics is refused."""
    cfg = Config.fromfile(config)
    val, test = (dict(cfg.get(k, {}).get('metrics') or {})
                 for k in ('val_evaluator', 'test_evaluator'))
    if sorted(val) != sorted(test):
        raise ValueError(f'{config}: val_evaluator.metrics {sorted(val)} and '
                         f'test_evaluator.metrics {sorted(test)} differ; the rescoring '
                         'repeats the run\'s validation')
    return [f'test_evaluator.metrics.{name}.fake_nums={m["fake_nums"]}'
            for name, m in sorted(val.items()) if 'fake_nums' in m] + list(options)


def score(config: str, checkpoint: str, out: str, options) -> dict:
    """The metrics of one checkpoint (tools/test.py), kept in ``out``: scored once."""
    if not osp.isfile(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
        score_checkpoint(config, checkpoint, out, options,
                         osp.join(osp.dirname(out), 'rescore_stdout.log'))
        print(f'  {checkpoint}: scored', flush=True)
    return json.load(open(out))['metrics']


def rescored_curves(folder: str) -> dict:
    """{metric: {iteration: value}} of a run's rescored checkpoints."""
    found = {}
    for step, metrics in scored_checkpoints(folder).items():
        for metric, value in metrics.items():
            if metric in CURVE_METRICS or metric in POSE_METRICS:
                found.setdefault(metric, {})[step] = float(value)
    return {m: {str(k): c[k] for k in sorted(c)} for m, c in found.items()}


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    tag = args.tag or tag_of(args.cfg_options)
    runs = {(r, s): osp.join(args.work_dir, f'{r}_seed{s}') for s in args.seeds for r in RECIPES}
    configs = {key: run_config(d) for key, d in runs.items()}
    ckpts = {key: checkpoints(d) for key, d in runs.items()}
    opts = {key: evaluation_options(configs[key], args.cfg_options) for key in runs}
    jobs = sorted(((k, key) for key in runs for k in ckpts[key]), key=lambda j: -j[0])
    for k, key in jobs:  # the last checkpoints of all runs first
        score(configs[key], ckpts[key][k],
              osp.join(runs[key], f'rescore_{tag}', f'evaluation_iter_{k}.json'), opts[key])
    new = {r: {str(s): rescored_curves(osp.join(runs[r, s], f'rescore_{tag}'))
               for s in args.seeds} for r in RECIPES}
    old = {r: {str(s): {m: {str(k): v for k, v in c.items()}
                        for m, c in curves(runs[r, s]).items()}
               for s in args.seeds} for r in RECIPES}
    metrics = sorted(set.intersection(*(set(new[r][str(s)]) for r in RECIPES
                                        for s in args.seeds)))
    first = configs['temporal', args.seeds[0]]
    report = dict(
        command='python -m benchmarks.rescore ' + ' '.join(argv or sys.argv[1:]),
        work_dir=args.work_dir, tag=tag, cfg_options=args.cfg_options,
        configs={r: configs[r, args.seeds[0]] for r in RECIPES}, labels=list(args.labels),
        seeds=args.seeds, iters=max(ckpts['baseline', args.seeds[0]]),
        feature_extractor=feature_extractor(first),
        baseline_flattened={s: flattened(new['baseline'][str(s)]['FID-train/fid'])
                            for s in args.seeds},
        **summarize_speedups(new, args.seeds),
        final_gap=final_gap(new, args.seeds, metrics),
        curves=new, original_curves=old, machine=machine())
    write_report(args.out, report)
    stem = osp.splitext(args.out)[0]
    plot(report, stem + '.png')
    grids = []
    for recipe, label in zip(RECIPES, args.labels):
        key = (recipe, args.seeds[0])
        folder = osp.join(runs[key], f'rescore_{tag}', 'samples')
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'generate.py'), configs[key],
               ckpts[key][max(ckpts[key])], '--num', '16', '--out', folder, '--overwrite',
               '--cfg-options', *args.cfg_options]
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        grids.append((f'{label}, seed {args.seeds[0]}, iteration {max(ckpts[key])}',
                      osp.join(folder, 'grid.png')))
    grids_figure(grids, first, stem + '_samples.png')
    print_final_gaps(report)
    print(f'wrote {args.out}, {stem}.png and {stem}_samples.png')
    return report


if __name__ == '__main__':
    main()

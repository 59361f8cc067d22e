"""Convergence of the temporal recipe against the baseline: FID-train, FID-val and diversity
against iterations, over seeds; gradient variance at several points of training.

    python -m benchmarks.convergence          # about 2 hours on 2 CPU cores

The same comparison for flow matching, and for clips of three frames against pairs (the
"baseline" of that run is the pair recipe; ``--labels`` names the two runs in the figures):

    python -m benchmarks.convergence \
        --baseline-config configs/synthetic_hands_flow_baseline_cpu.py \
        --temporal-config configs/synthetic_hands_flow_temporal_cpu.py \
        --work-dir work_dirs/benchmarks/convergence_flow \
        --out benchmarks/results/convergence_flow.json
    python -m benchmarks.convergence --baseline-config configs/synthetic_hands_temporal_cpu.py \
        --temporal-config configs/synthetic_hands_clip3_temporal_cpu.py --labels 'pairs (T=2)' \
        'clips (T=3)' --grad-var-iters --work-dir work_dirs/benchmarks/convergence_clip3 \
        --out benchmarks/results/convergence_clip3.json

Trains configs/synthetic_hands_baseline_cpu.py (32 single frames per step, lambda = 0) and
configs/synthetic_hands_temporal_cpu.py (16 pairs = 32 frames per step) for each seed, with
the same budget, evaluates every --eval-interval iterations, and writes
benchmarks/results/convergence.json, convergence.png (mean over seeds, band = min..max) and
convergence_samples.png (the first seed's last sample grids of both recipes next to real val
frames).

Speed-ups (vidreg_mm.convergence.speedup), per seed, for FID-train, FID-val, KID-train and
KID-val: iterations the baseline needs to reach its final value divided by the iterations
after which the temporal run stays at or below it, both read off the curves interpolated
linearly between evaluations. ``speedup`` (FID-train; ``speedup_fid_val``, ``speedup_kid_train``,
``speedup_kid_val``) is the mean over seeds, None unless every seed gets there;
``..._min`` the smallest, ``..._per_seed`` each; ``..._first_crossing`` the older figure
(first evaluation at or below the target, no interpolation), inflated by early dips.
``speedup_at_targets``: the same ratio at the baseline's value at each of its evaluations,
not only at its final one. ``final_gap``: each metric at the last evaluation, per seed, the
paired difference (baseline - temporal, same seed) and each recipe's spread over seeds.
``baseline_flattened``: whether the baseline's FID-train changed by less than
``--plateau-tolerance`` (5%) of its value over the last third of the budget (the criterion for
"long enough"; the reports before it was an option used 10%). Where the configs' schedule
decays to the budget (the articulation recipes), the last third falls while the rate decays
and this flag says little: the pilot's budget extension (benchmarks.plateau ``--shorter``)
is the criterion there, and the speed-ups compare the two recipes under the same schedule.

With ``--pose-regressor`` (benchmarks.pose_regressor) every evaluation also scores the
samples in the regressor's features (PoseFD, PoseKID) and in finger-curl space
(PoseDiversity: precision, recall, coverage, spread), and ``pose`` in the report holds the
same scores of real training frames, blurred ones and noise in place of samples. The
regressor is trained again in each session (its checkpoint is not committed), and a copy
trained on another machine differs in the last bits of its weights and so in its scores: the
two runs of a seed are always scored by one copy (checked before anything trains), each
record keeps its copy's fingerprint, val accuracy and reference scores, and
``pose['per_seed']`` gives them per seed. Read the pose metrics as paired differences
within a seed; their spread over seeds includes the copies' differences.

``--cfg-options`` change both runs (and are kept in their records); ``--seed-input
NAME=PATH`` names a file both runs read whose copy may differ from session to session, as the
regressor's does (e.g. pretrained weights that the session makes before it fine-tunes from
them, benchmarks.finetune): each record keeps the fingerprint of the copy its run read, the
two runs of a seed must have read the same one, and ``seed_inputs`` in the report gives
them per seed.

A study longer than a session: each complete run is recorded in ``--records`` (default
``<out>_runs/``: curves, times, settings and the last sample grid; benchmarks.records), and
the gradient variance beside them as soon as the first seed's runs are done (their
checkpoints do not outlive the work dir). Commit the folder; the same command in a later
session, on a fresh checkout, takes the recorded runs from it and trains only the others.

Gradient variance: at the first seed's checkpoints (and the shared initialisation), the
variance of mini-batch gradients of the temporal objective over that of the baseline at the
same parameters and equal frames per batch (tools/analysis/gradient_variance.py), and the
same for the variance relative to the squared norm of the mean gradient
(``noise_to_signal_*``: unchanged when an objective scales the loss, as a pair term on
independent noise does).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from mmengine.config import Config

from vidreg_mm.engine import noise_to_signal
from vidreg_mm.run_config import frames_per_step

from .comparison import final_gap, flattened, summarize_speedups
from .figures import plot, sample_figure
from .records import file_fingerprints, read_record, run_recorded, sample_grid
from .runs import (DIVERSITY_METRICS, FID_METRICS, KID_METRICS, POSE_METRICS, RECIPES, ROOT,
                   SPEEDUP_METRICS, budget_options, feature_extractor, machine, write_report)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--temporal-config', default='configs/synthetic_hands_temporal_cpu.py')
    p.add_argument('--baseline-config', default='configs/synthetic_hands_baseline_cpu.py')
    p.add_argument('--data-root', help='a dataset folder instead of the synthetic hands')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 2, 3],
                   help='seed 1 chose the defaults (docs/results.md): not reported on')
    p.add_argument('--iters', type=int, default=1500)
    p.add_argument('--eval-interval', type=int, default=250)
    p.add_argument('--fake-nums', type=int, default=256, help='generated samples per eval')
    p.add_argument('--sample-steps', type=int, default=25,
                   help="sampling steps per sample (the model's sampler: DDIM, Euler, ...)")
    p.add_argument('--grad-var-iters', type=int, nargs='*', default=[0, 500, 1000, 1500],
                   help='iterations (checkpoints) to measure gradient variance at')
    p.add_argument('--grad-var-batches', type=int, default=16)
    p.add_argument('--parallel', action='store_true',
                   help="train a seed's two runs at once, as two processes (sharing a GPU); "
                   'the data is written first, by this process')
    p.add_argument('--plateau-tolerance', type=float, default=0.05,
                   help="the baseline has reached its plateau when its FID-train changed by "
                   'less than this fraction over the last third of the budget')
    p.add_argument('--pose-regressor',
                   help='a regressor of benchmarks.pose_regressor: its metrics (Frechet '
                   'distance in its features, diversity in finger-curl space) join every '
                   'evaluation, and the report holds their real-frame references')
    p.add_argument('--pose-min-r2', type=float, default=0.8,
                   help='every finger curl must reach this val R^2 for the regressor to be used')
    p.add_argument('--work-dir', default='work_dirs/benchmarks/convergence')
    p.add_argument('--out', default='benchmarks/results/convergence.json')
    p.add_argument('--records', help='where each complete run and the gradient variance are '
                   'recorded, to commit: a later invocation takes a run from its record when '
                   'its work dir is gone (benchmarks.records); default: beside --out, '
                   '<out>_runs/')
    p.add_argument('--seed-input', nargs='+', default=[], metavar='NAME=PATH',
                   help='files every run reads besides its config whose copy may differ '
                   'from session to session (e.g. pretrained weights made by the session '
                   'that trains the runs): fingerprinted into each record, and the two runs '
                   'of a seed must have read the same copy, as with --pose-regressor')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='--cfg-options of both runs (and of the gradient variance), kept in '
                   'their records')
    p.add_argument('--labels', nargs=2, default=list(RECIPES), metavar=('BASELINE', 'TEMPORAL'),
                   help='names of the two runs in figures and printouts (the report keys '
                   'stay baseline and temporal)')
    return p.parse_args(argv)


#: the metrics speed-ups are reported for, and the suffix of their keys in the report
ROUGHNESS = ['Roughness/roughness', 'Roughness/real_roughness']


def grad_variance(args, configs, runs_seed0, folder: str) -> list:
    """The gradient variance at ``args.grad_var_iters`` of the first seed's runs, each
    point kept in ``folder`` (measured once: the checkpoints do not outlive the session)."""
    points = []
    tool = osp.join(ROOT, 'tools', 'analysis', 'gradient_variance.py')
    run_opts = ([f'{s}_dataloader.dataset.data_root={args.data_root}'
                 for s in ('train', 'val', 'test')] if args.data_root else []) + args.cfg_options
    for it in args.grad_var_iters:
        for recipe in (RECIPES if it else ('init', )):
            ckpt = osp.join(runs_seed0.get(recipe, ''), f'iter_{it}.pth')
            out = osp.join(folder, 'grad_variance', f'{recipe}_{it}.json')
            if it and not osp.isfile(out) and not osp.isfile(ckpt):
                print(f'  no {ckpt}: gradient variance at {it} skipped', flush=True)
                continue
            if not osp.isfile(out):
                cmd = [sys.executable, tool, configs['temporal'], configs['baseline'],
                       '--num-batches', str(args.grad_var_batches), '--out', out]
                if it:
                    cmd += ['--checkpoint', ckpt]
                if run_opts:
                    cmd += ['--cfg-options', *run_opts]
                subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            with open(out) as f:
                res = json.load(f)
            rel = {name: noise_to_signal(r['grad_variance'], r['grad_sq_norm'],
                                         res['num_batches'])
                   for name, r in res['results'].items()}
            points.append(dict(
                iteration=it, parameters_of=recipe,
                temporal=res['results']['temporal']['grad_variance'],
                baseline=res['results']['baseline']['grad_variance'],
                ratio_temporal_over_baseline=res['variance_ratio_temporal_over_baseline'],
                noise_to_signal_temporal=rel['temporal'], noise_to_signal_baseline=rel['baseline'],
                noise_to_signal_ratio=(rel['temporal'] / rel['baseline']
                                       if None not in rel.values() else None)))
            print(f"  gradient variance at {it} ({recipe} parameters): ratio "
                  f"{points[-1]['ratio_temporal_over_baseline']:.3f}, relative to the squared "
                  f"mean gradient {points[-1]['noise_to_signal_ratio']}", flush=True)
    return points


def write_data(config: str) -> None:
    """Build the config's datasets here, so that their data is written (generate_if_missing)
    once, before runs that start together would each write it."""
    from mmagic.registry import DATASETS
    from mmengine.registry import init_default_scope

    import vidreg_mm  # noqa: F401  registers the modules
    init_default_scope('mmagic')
    cfg = Config.fromfile(config)
    for loader in ('train_dataloader', 'val_dataloader'):
        DATASETS.build(cfg[loader].dataset)


def pose_setup(args, configs: dict):
    """The configs to train (with the pose metrics added, when ``--pose-regressor``) and the
    report's pose entry (None without)."""
    if not args.pose_regressor:
        return configs, None
    from .pose_diversity import reference_scores, with_pose_metrics
    from .pose_regressor import checked_regressor
    reg, angles = checked_regressor(args.pose_regressor, args.pose_min_r2)
    derived = {r: with_pose_metrics(c, args.pose_regressor, angles, args.fake_nums,
                                    osp.join(args.work_dir, f'{r}_config_with_pose_metrics.py'))
               for r, c in configs.items()}
    config = Config.fromfile(configs['temporal'])
    refs = reference_scores(config, dict(config.synthetic), args.pose_regressor, angles,
                            args.fake_nums)
    sha = file_fingerprints(dict(pose_regressor=args.pose_regressor))['pose_regressor']
    return derived, dict(regressor=args.pose_regressor, regressor_sha256=sha, angles=angles,
                         val_accuracy=reg['val_accuracy'], references_in_place_of_samples=refs)


#: the inputs whose copy may differ from seed to seed (each session trains the regressor again)
PER_SEED_INPUTS = ('pose_regressor', )
#: what a record keeps of the regressor that scored it
POSE_ENTRY = ('regressor_sha256', 'val_accuracy', 'references_in_place_of_samples')


def one_copy_per_seed(found: dict, now: dict, paths: dict) -> dict:
    """The copy of each file of ``now`` (name -> its fingerprint now) that both runs of a seed
    read: ``found`` (recipe -> its record; None: to be trained now, with the files now) must
    agree on it. Returns name -> that copy's fingerprint; a ValueError naming the records if
    the pair would read two copies."""
    out = {}
    for name, sha_now in now.items():
        shas = {r: rec['inputs_sha256'].get(name) for r, rec in found.items() if rec}
        used = {shas.get(r, sha_now) for r in found}
        if len(used) > 1:
            detail = ', '.join(f'{paths[r]}: {str(shas[r])[:12]}' if r in shas else
                               f'{paths[r]}: {sha_now[:12]} (to train now)' for r in found)
            raise ValueError(f'the runs of one seed would read different copies of {name} '
                             f'({detail}): delete the records of that seed to train the pair '
                             'again with this one')
        (out[name], ) = used
    return out


def seed_pose(found: dict, current: dict, paths: dict) -> dict:
    """The pose regressor that scores a seed's pair of runs: both runs of a seed are scored by
    one copy, so that the paired difference is measured with one instrument; other seeds may
    have been scored by another copy (the regressor is trained again in each session, and its
    weights differ from machine to machine in the last bits). ``found``: recipe -> its record
    (None: to be trained now, scored by the current regressor, whose entry (``POSE_ENTRY``)
    is ``current``). Returns the entry of the pair's copy; a ValueError naming the records if
    the pair cannot share one."""
    now = current['regressor_sha256']
    used = one_copy_per_seed(found, dict(pose_regressor=now), paths)['pose_regressor']
    if used == now:
        return current
    entries = [found[r].get('pose') for r in found]
    if any(e is None or e.get('regressor_sha256') != used for e in entries):
        raise ValueError(f"{', '.join(paths.values())}: scored by another copy of the pose "
                         "regressor, whose accuracy and references they do not record")
    return entries[0]


def seed_inputs(items) -> dict:
    """name -> path of ``--seed-input NAME=PATH ...``; a ValueError naming a malformed item,
    a reserved or repeated name, or a missing file."""
    out = {}
    for item in items:
        name, sep, path = item.partition('=')
        if not sep or not name.isidentifier() or not path:
            raise ValueError(f'--seed-input {item!r}: expected NAME=PATH')
        if name in PER_SEED_INPUTS or name in out:
            raise ValueError(f'--seed-input {item!r}: the name {name} is '
                             f"{'taken' if name in out else 'reserved'}")
        if not osp.isfile(path):
            raise ValueError(f'--seed-input {item!r}: no file {path}')
        out[name] = path
    return out


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    configs = dict(baseline=args.baseline_config, temporal=args.temporal_config)
    extra_inputs = seed_inputs(args.seed_input)
    run_configs, pose = pose_setup(args, configs)
    records = args.records or osp.splitext(args.out)[0] + '_runs'
    inputs = dict(extra_inputs, **(dict(pose_regressor=args.pose_regressor)
                                   if args.pose_regressor else {})) or None
    per_seed = PER_SEED_INPUTS + tuple(extra_inputs)
    seconds, all_curves, grids, grad = {}, {r: {} for r in RECIPES}, {}, []
    per_seed_pose, per_seed_copies = {}, {}
    pose_now = {k: pose[k] for k in POSE_ENTRY} if pose else None  # what new records keep
    inputs_now = file_fingerprints(extra_inputs)
    opts = {s: budget_options(s, args.iters, args.eval_interval, args.fake_nums,
                              args.sample_steps, checkpoint_interval=args.eval_interval,
                              data_root=args.data_root) + args.cfg_options
            for s in args.seeds}
    paths = {s: {r: osp.join(records, f'{r}_seed{s}.json') for r in RECIPES}
             for s in args.seeds}
    for s in args.seeds:  # every seed's pair checked before any training
        found = {r: read_record(paths[s][r], run_configs[r], opts[s], args.iters, inputs,
                                per_seed) for r in RECIPES}
        if pose:
            per_seed_pose[str(s)] = seed_pose(found, pose_now, paths[s])
        per_seed_copies[str(s)] = one_copy_per_seed(found, inputs_now, paths[s])
    if args.parallel and not args.data_root:
        write_data(configs['temporal'])
    for seed in args.seeds:
        dirs = {r: osp.join(args.work_dir, f'{r}_seed{seed}') for r in RECIPES}
        print(f"seed {seed}: {', '.join(RECIPES)}{' at once' if args.parallel else ''}",
              flush=True)
        with ThreadPoolExecutor(len(RECIPES) if args.parallel else 1) as pool:
            done = {r: pool.submit(run_recorded, run_configs[r], dirs[r], opts[seed],
                                   args.iters, args.eval_interval, paths[seed][r], inputs,
                                   per_seed, pose_now and dict(pose=pose_now))
                    for r in RECIPES}
            recorded = {r: done[r].result() for r in RECIPES}
        for r in RECIPES:
            seconds[f'{r}_seed{seed}'] = recorded[r]['train_seconds']
            all_curves[r][str(seed)] = recorded[r]['curves']
        if seed == args.seeds[0]:
            grids = {r: sample_grid(paths[seed][r]) for r in RECIPES}
            print('gradient variance:', flush=True)
            grad = grad_variance(args, configs, dirs, records)
    final_metrics = FID_METRICS + KID_METRICS + DIVERSITY_METRICS + ROUGHNESS + (
        POSE_METRICS if pose else [])
    report = dict(
        command='python -m benchmarks.convergence ' + ' '.join(argv or []),
        configs=configs, labels=list(args.labels),
        data_root=args.data_root or (Config.fromfile(args.temporal_config).get(
            'data_root', '?') + ' (generated)'),
        data_root_option=args.data_root,
        seeds=args.seeds, iters=args.iters, eval_interval=args.eval_interval,
        fake_nums=args.fake_nums, sample_steps=args.sample_steps,
        frames_per_step={r: frames_per_step(Config.fromfile(c)) for r, c in configs.items()},
        feature_extractor=feature_extractor(args.temporal_config),
        plateau_tolerance=args.plateau_tolerance,
        baseline_flattened={s: flattened(all_curves['baseline'][str(s)]['FID-train/fid'],
                                         args.plateau_tolerance) for s in args.seeds},
        **summarize_speedups(all_curves, args.seeds),
        final_gap=final_gap(all_curves, args.seeds, final_metrics),
        pose=dict(pose, per_seed=per_seed_pose) if pose else None,
        seed_inputs=dict(paths=extra_inputs, sha256_per_seed=per_seed_copies)
        if extra_inputs else None, cfg_options=args.cfg_options, gradient_variance=grad,
        curves=all_curves, records=records, machine=machine(),
        train_seconds=seconds, train_minutes=round(sum(seconds.values()) / 60, 1))
    write_report(args.out, report)
    png = osp.splitext(args.out)[0] + '.png'
    plot(report, png)
    samples = sample_figure(report, grids, osp.splitext(args.out)[0] + '_samples.png')
    fmt = (lambda v: f'{v:.2f}x' if v else 'not reached in every seed')  # noqa: E731
    for metric, suffix in SPEEDUP_METRICS.items():
        gap = report['final_gap'][metric]
        print(f"{metric}: baseline {gap['baseline_mean']:.4f}, temporal "
              f"{gap['temporal_mean']:.4f} at {args.iters} (mean of {len(args.seeds)} seeds); "
              f"speed-up {fmt(report['speedup' + suffix])} (min "
              f"{fmt(report['speedup' + suffix + '_min'])})", flush=True)
    print(f'wrote {png} and {samples}')
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

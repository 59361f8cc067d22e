"""The regulariser as a fine-tuning recipe: does it speed up fine-tuning a pretrained model,
and by how much against training from scratch?

    python -m benchmarks.finetune                      # every part, many CPU hours
    python -m benchmarks.finetune --only scratch       # one comparison per invocation

1. **Pretraining** (for ``full`` and ``lora``): the UNet2DModel baseline
   (configs/photo_pans_unet2d_baseline_cpu.py, single frames, lambda = 0) on the photo pans
   (written by tools/data/make_photo_pans.py when ``--pretrain-data`` is missing) for
   ``--pretrain-iters`` in ``<work-dir>/pretrain``, exported with its EMA weights
   (tools/export_diffusers.py) to ``<work-dir>/pretrained``, the pipeline folder the
   fine-tuning runs start from. A folder that holds a pipeline already is used as it is.
   Its curves on the photo pans are recorded as ``<records>/pretrain_<sha>.json``.
2. **Three comparisons** of the baseline (single frames, lambda = 0) against the temporal
   recipe at equal frames per step on the synthetic hands, each by benchmarks.convergence
   with the same seeds, budget and evaluations (Inception FID/KID on train and val, every
   ``--eval-interval``): ``scratch`` (configs/synthetic_hands_unet2d_{baseline,temporal}
   _cpu.py, random weights), ``full`` (synthetic_hands_finetune_{baseline,temporal}_cpu.py,
   every weight from the pretraining) and ``lora`` (synthetic_hands_finetune_lora_{baseline,
   temporal}_cpu.py, rank-8 adapters on the frozen pretraining). Each writes
   ``benchmarks/results/finetune_<name>.json`` with its curves, speed-ups, final gaps and
   sample grids (see benchmarks.convergence for their definitions) and records every
   complete run in ``finetune_<name>_runs/``.
3. **The summary**, ``benchmarks/results/finetune.json`` and ``finetune.png``, from the
   comparisons found: the regulariser's speed-up and final gap in each, and the head start
   of fine-tuning: for each recipe and seed, the iterations its from-scratch run needs to
   reach its final FID over those the fine-tuned run needs to reach (and stay at) it
   (vidreg_mm.convergence.speedup; bounded by the evaluation grid: a run that is there at
   its first evaluation counts from it), and the same ratio at scratch's value at each of
   its evaluations (``at_targets``), which says something where the fine-tuned run never
   reaches scratch's final value.

The pretrained weights are not committed (they are a checkpoint), so a session that finds
no ``<work-dir>/pretrained`` pretrains again, and a pretraining on another machine may
differ in its weights: each record keeps the fingerprint of the weights its run started
from, both runs of a seed must have started from the same ones (benchmarks.convergence
``--seed-input``), and the summary gives the copies per seed. Resumable like
benchmarks.convergence: commit the ``_runs`` folders and the JSON as each run completes.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

from vidreg_mm.convergence import speedups_along

from . import convergence
from .records import file_fingerprints, write_record
from .runs import RECIPES, ROOT, budget_options, train, write_report

PRETRAIN = 'configs/photo_pans_unet2d_baseline_cpu.py'
#: name -> (baseline config, temporal config, starts from the pretraining)
COMPARISONS = {
    'scratch': ('configs/synthetic_hands_unet2d_baseline_cpu.py',
                'configs/synthetic_hands_unet2d_temporal_cpu.py', False),
    'full': ('configs/synthetic_hands_finetune_baseline_cpu.py',
             'configs/synthetic_hands_finetune_temporal_cpu.py', True),
    'lora': ('configs/synthetic_hands_finetune_lora_baseline_cpu.py',
             'configs/synthetic_hands_finetune_lora_temporal_cpu.py', True),
}
#: the metrics of the summary
METRICS = ('FID-train/fid', 'FID-val/fid', 'KID-train/kid', 'KID-val/kid')
#: where a pipeline folder keeps the denoiser's weights
WEIGHTS = osp.join('unet', 'diffusion_pytorch_model.safetensors')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='+', choices=list(COMPARISONS), default=list(COMPARISONS),
                   help='the comparisons to run now (the summary reads every one found)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 2],
                   help='seed 1 chose the defaults (docs/results.md): not reported on')
    p.add_argument('--iters', type=int, default=1500, help='budget of every compared run')
    p.add_argument('--eval-interval', type=int, default=250)
    p.add_argument('--fake-nums', type=int, default=256, help='generated samples per eval')
    p.add_argument('--pretrain-iters', type=int, default=1500)
    p.add_argument('--pretrain-seed', type=int, default=0)
    p.add_argument('--pretrain-data', default='data/photo_pans',
                   help="the pretraining's data (the config's data_root); written if missing")
    p.add_argument('--data-root', help='the fine-tuning data instead of the synthetic hands')
    p.add_argument('--work-dir', default='work_dirs/benchmarks/finetune')
    p.add_argument('--results', default='benchmarks/results',
                   help='where finetune*.json, the figures and the records go')
    return p.parse_args(argv)


def export_pipeline(config: str, checkpoint: str, folder: str) -> None:
    """The checkpoint's EMA denoiser as a diffusers pipeline folder (tools/export_diffusers.py)."""
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'export_diffusers.py'), config,
                    checkpoint, folder, '--overwrite'], cwd=ROOT, check=True)


def pretrain(args) -> dict:
    """The pretrained pipeline folder (made unless there is one) and what is known of it:
    the fingerprint of its weights and the record of its pretraining's curves (None when the
    folder was found without the run that made it)."""
    folder = osp.join(args.work_dir, 'pretrained')
    weights = osp.join(folder, WEIGHTS)
    work = osp.join(args.work_dir, 'pretrain')
    opts = budget_options(args.pretrain_seed, args.pretrain_iters,
                          max(args.pretrain_iters // 3, 1), args.fake_nums, 25,
                          checkpoint_interval=args.pretrain_iters,
                          data_root=args.pretrain_data)
    trained = None
    if not osp.isfile(weights):
        if not osp.isdir(args.pretrain_data):
            print(f'writing the photo pans to {args.pretrain_data}', flush=True)
            subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'data',
                                                     'make_photo_pans.py'), args.pretrain_data],
                           cwd=ROOT, check=True)
        print(f'pretraining {PRETRAIN} in {work}', flush=True)
        trained = train(PRETRAIN, work, opts, args.pretrain_iters)
        export_pipeline(PRETRAIN, osp.join(work, f'iter_{args.pretrain_iters}.pth'), folder)
    sha = file_fingerprints(dict(weights=weights))['weights']
    record = osp.join(args.results, 'finetune_runs', f'pretrain_{sha[:12]}.json')
    if trained is not None:
        os.makedirs(osp.dirname(record), exist_ok=True)
        write_record(record, PRETRAIN, opts, args.pretrain_iters, work, trained,
                     extra=dict(exported=folder, weights_sha256=sha))
    return dict(config=PRETRAIN, folder=folder, weights=weights, weights_sha256=sha,
                iters=args.pretrain_iters, options=opts,
                record=record if osp.isfile(record) else None)


def compare(args, name: str, pretrained) -> dict:
    """One comparison (benchmarks.convergence), its report."""
    baseline, temporal, _ = COMPARISONS[name]
    argv = ['--baseline-config', baseline, '--temporal-config', temporal,
            '--seeds', *map(str, args.seeds), '--iters', str(args.iters),
            '--eval-interval', str(args.eval_interval), '--fake-nums', str(args.fake_nums),
            '--grad-var-iters', '--work-dir', osp.join(args.work_dir, name),
            '--out', osp.join(args.results, f'finetune_{name}.json'),
            '--labels', f'baseline ({name})', f'temporal ({name})']
    if args.data_root:
        argv += ['--data-root', args.data_root]
    if pretrained:
        argv += ['--seed-input', f"pretrained={pretrained['weights']}",
                 '--cfg-options', f"model.pretrained.path={pretrained['folder']}"]
    print(f'comparison {name}: {baseline} against {temporal}', flush=True)
    return convergence.main(argv)


def head_start(scratch: dict, tuned: dict, seeds) -> dict:
    """recipe -> metric -> per seed and mean: the iterations the from-scratch run needs to
    reach its final value over those the fine-tuned run needs (sustained, interpolated;
    None where the fine-tuned run never gets there), and ``at_targets``: the same ratio at
    the from-scratch run's value at each of its evaluations (keyed by that iteration), as
    ``speedup_at_targets`` is for the regulariser."""
    def mean(per_seed):
        vals = list(per_seed.values())
        return None if None in vals else statistics.fmean(vals)

    out = {}
    for recipe in RECIPES:
        out[recipe] = {}
        for metric in METRICS:
            along = {s: speedups_along(*({int(k): v for k, v in
                                          rep['curves'][recipe][s][metric].items()}
                                         for rep in (scratch, tuned)))
                     for s in map(str, seeds)}
            # the last of scratch's values is its final one: the head start proper
            per_seed = {s: a[max(a)]['speedup'] for s, a in along.items()}
            at_targets = {}
            for step in sorted(set.intersection(*map(set, along.values()))):
                at = {s: a[step]['speedup'] for s, a in along.items()}
                at_targets[str(step)] = dict(per_seed=at, mean=mean(at))
            out[recipe][metric] = dict(per_seed=per_seed, mean=mean(per_seed),
                                       at_targets=at_targets)
    return out


def summarize(args, reports: dict, pretrained) -> dict:
    """The summary of the comparisons found (name -> report)."""
    def entry(name, rep):
        return dict(
            report=osp.join(args.results, f'finetune_{name}.json'),
            configs=rep['configs'], seeds=rep['seeds'], iters=rep['iters'],
            speedup_fid_train=rep['speedup'], speedup_fid_val=rep['speedup_fid_val'],
            speedup_fid_train_per_seed=rep['speedup_per_seed'],
            speedup_fid_val_per_seed=rep['speedup_fid_val_per_seed'],
            speedup_fid_train_at_targets={k: v['mean'] for k, v in
                                          rep['speedup_at_targets'].items()},
            final={m: {k: rep['final_gap'][m][k] for k in (
                'baseline_mean', 'temporal_mean', 'baseline_minus_temporal_mean',
                'baseline_spread', 'temporal_spread')} for m in METRICS},
            pretrained_sha256_per_seed=(rep.get('seed_inputs') or {}).get('sha256_per_seed'))
    summary = dict(command='python -m benchmarks.finetune', seeds=args.seeds, iters=args.iters,
                   eval_interval=args.eval_interval, fake_nums=args.fake_nums,
                   pretraining=pretrained,
                   comparisons={n: entry(n, r) for n, r in reports.items()},
                   head_start={})
    if 'scratch' in reports:
        for name in ('full', 'lora'):
            if name in reports and reports[name]['seeds'] == reports['scratch']['seeds']:
                summary['head_start'][name] = head_start(reports['scratch'], reports[name],
                                                         reports[name]['seeds'])
    return summary


def plot(reports: dict, path: str) -> None:
    """FID-train and FID-val of every recipe of every comparison found, mean over seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), dpi=80)
    styles = dict(scratch='-', full='--', lora=':')
    for ax, metric in zip(axes, METRICS[:2]):
        for name, rep in reports.items():
            for recipe, color in zip(RECIPES, ('tab:gray', 'tab:red')):
                per_seed = [rep['curves'][recipe][str(s)][metric] for s in rep['seeds']]
                steps = sorted(int(k) for k in per_seed[0])
                ax.plot(steps, [statistics.fmean(c[str(k)] for c in per_seed) for k in steps],
                        styles[name], marker='o', color=color, label=f'{recipe}, {name}')
        ax.set_title(f'{metric.split("/")[0]} (mean over seeds)', fontsize=9)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    os.makedirs(args.results, exist_ok=True)
    out = osp.join(args.results, 'finetune.json')
    pretrained = (pretrain(args) if any(COMPARISONS[n][2] for n in args.only) else None)
    if pretrained is None and osp.isfile(out):  # the pretraining an earlier invocation used
        with open(out) as f:
            pretrained = json.load(f)['pretraining']
    reports = {}
    for name in COMPARISONS:
        if name in args.only:
            reports[name] = compare(args, name, pretrained if COMPARISONS[name][2] else None)
        elif osp.isfile(osp.join(args.results, f'finetune_{name}.json')):
            with open(osp.join(args.results, f'finetune_{name}.json')) as f:
                reports[name] = json.load(f)
    summary = summarize(args, reports, pretrained)
    write_report(out, summary)
    plot(reports, osp.splitext(out)[0] + '.png')
    for name, c in summary['comparisons'].items():
        fid = c['final']['FID-val/fid']
        print(f"{name}: FID-val at {c['iters']}: baseline {fid['baseline_mean']:.1f}, "
              f"temporal {fid['temporal_mean']:.1f}; regulariser's speed-up (FID-train) "
              f"{c['speedup_fid_train']}", flush=True)
    for name, recipes in summary['head_start'].items():
        for recipe, m in recipes.items():
            along = ', '.join(f"{k}: {v['mean']:.2f}" if v['mean'] is not None else f'{k}: -'
                              for k, v in m['FID-train/fid']['at_targets'].items())
            print(f"head start of {name} fine-tuning over scratch, {recipe}: FID-train "
                  f"{m['FID-train/fid']['mean']}, FID-val {m['FID-val/fid']['mean']}; "
                  f"FID-train at scratch's value of step {along}", flush=True)
    print(f'wrote {out}')
    return summary


if __name__ == '__main__':
    main(sys.argv[1:])

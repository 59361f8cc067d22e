"""Diversity of finger articulation: a pose regressor trained on the synthetic hands scores
the samples of the baseline and the temporal recipe in pose space, over seeds.

    python -m benchmarks.pose_diversity      # about 70 min on 2 CPU cores

1. **The regressor.** The synthetic generator knows every frame's joint angles
   (vidreg_mm.datasets.synthetic_hands_poses: flexion of 5 fingers x 3 joints, abduction of
   each finger). A small CNN (vidreg_mm.evaluation.HandPoseRegressor) is trained from frames
   (the recipes' 32 px, as the configs' pipeline reads them) to each finger's curl, the sum
   of its three flexion angles (at 32 px the three joints of a finger are not told apart; the
   curl is what the frames show), on the training frames of data/synthetic_hands and on
   ``--extra-sequences`` further hands drawn by the same generator with another seed
   (``--extra-seed``; the 1536 training frames alone hold 24 hands, which a CNN memorises).
   Its accuracy is measured on the val frames of data/synthetic_hands, which it never sees:
   R^2 and mean absolute error per finger. The curls whose val R^2 reaches ``--min-r2`` make
   up the joint-angle space of the scores; the rule is applied before any sample is scored.
2. **The runs.** Baseline and temporal recipe (the defaults of benchmarks/convergence.py) for
   each seed, ``--iters`` steps, without evaluations during training (a run whose final
   checkpoint exists is not repeated; an interrupted one resumes).
3. **The scores**, by tools/test.py on each final checkpoint (EMA weights, ``--fake-nums``
   samples, ``--sample-steps`` steps, the evaluation's sample seeds) with the configs'
   evaluator replaced by: Frechet distance and KID in the regressor's penultimate features
   (``PoseFD``, ``PoseKID``), and precision, recall and coverage (k = 5) in joint-angle space
   (predicted curls, standardised, for samples and real frames alike), against the training
   frames and against the val frames. The same scores of ``--fake-nums`` frames that stand in
   for samples are the references: real training frames (the floor a perfect model reaches
   with that many samples), the same frames blurred (hand blobs without fingers) and uniform
   noise (a metric that scores noise as well as hands is no metric).

Writes benchmarks/results/pose_diversity.json.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

import cv2
import numpy as np
import torch

from .pose_regressor import add_training_args, load_frames, readable_curls, train_regressor
from .runs import RECIPES, ROOT, budget_options, machine, train, write_report

SPLITS = ('train', 'val')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--temporal-config', default='configs/synthetic_hands_temporal_cpu.py')
    p.add_argument('--baseline-config', default='configs/synthetic_hands_baseline_cpu.py')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 2, 3],
                   help='seed 1 chose the defaults (docs/results.md): not reported on')
    p.add_argument('--iters', type=int, default=1500)
    p.add_argument('--fake-nums', type=int, default=256)
    p.add_argument('--sample-steps', type=int, default=25)
    add_training_args(p)
    p.add_argument('--min-r2', type=float, default=0.5,
                   help='finger curls with at least this val R^2 make up the joint-angle space')
    p.add_argument('--runs-only', action='store_true',
                   help='train (or resume) the recipes\' runs and stop')
    p.add_argument('--work-dir', default='work_dirs/benchmarks/pose_diversity')
    p.add_argument('--out', default='benchmarks/results/pose_diversity.json')
    return p.parse_args(argv)


def pose_evaluator(regressor: str, angles, fake_nums: int) -> dict:
    """The evaluator that replaces a config's: pose features and joint-angle space."""
    feats = dict(type='PoseRegressorFeatures', checkpoint=regressor, output='features')
    space = dict(type='PoseRegressorFeatures', checkpoint=regressor, output='angles',
                 angles=list(angles))
    metrics = {}
    for split in SPLITS:
        real = dict(real_split='train') if split == 'train' else {}
        metrics[f'pose_fd_{split}'] = dict(type='FrameFID', prefix=f'PoseFD-{split}',
                                           fake_nums=fake_nums, feature_extractor=feats, **real)
        metrics[f'pose_kid_{split}'] = dict(type='FrameKID', prefix=f'PoseKID-{split}',
                                            fake_nums=fake_nums, feature_extractor=feats, **real)
        metrics[f'pose_diversity_{split}'] = dict(
            type='FrameDiversity', prefix=f'PoseDiversity-{split}', fake_nums=fake_nums,
            real_nums=-1, feature_extractor=space, **real)
    return dict(type='NamedMetricsEvaluator', metrics=metrics)


def with_pose_metrics(config_path: str, regressor: str, angles, fake_nums: int,
                      out: str) -> str:
    """``config_path`` with the pose metrics of :func:`pose_evaluator` added to its val and
    test evaluators (they share the evaluation's samples), written to ``out``; its path."""
    from mmengine.config import Config
    cfg = Config.fromfile(config_path)
    pose = pose_evaluator(osp.abspath(regressor), angles, fake_nums)['metrics']
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key] = dict(cfg[key], metrics=dict(cfg[key]['metrics'], **pose))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    cfg.dump(out)
    return out


def score_checkpoint(config_path: str, checkpoint: str, work_dir: str, evaluator: dict,
                     sample_steps: int, tag: str) -> dict:
    """tools/test.py on ``checkpoint`` with the pose evaluator (results kept in work_dir,
    under ``tag``, the joint-angle space's name)."""
    from mmengine.config import Config
    out = osp.join(work_dir, f'pose_scores_{tag}.json')
    if osp.isfile(out):
        return json.load(open(out))['metrics']
    cfg = Config.fromfile(config_path)
    cfg.test_evaluator = evaluator
    derived = osp.join(work_dir, f'pose_eval_config_{tag}.py')
    cfg.dump(derived)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), derived, checkpoint,
           '--work-dir', osp.join(work_dir, f'pose_eval_{tag}'), '--out', out, '--cfg-options',
           f'model.num_sample_steps={sample_steps}']
    log_path = osp.join(work_dir, f'pose_eval_{tag}_stdout.log')
    with open(log_path, 'w') as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'scoring {checkpoint} failed ({proc.returncode}): see '
                           f'{log_path}')
    return json.load(open(out))['metrics']


def reference_sets(frames: torch.Tensor, n: int, seed: int = 0) -> dict:
    """``n`` frames that stand in for samples: real training frames (the floor a perfect
    model reaches with that many samples), the same frames blurred (Gaussian, sigma 1.5 px:
    hand-coloured blobs without fingers, as the samples at this budget look) and uniform
    noise (what a broken sampler returns)."""
    gen = torch.Generator().manual_seed(seed)
    real = frames[torch.randperm(len(frames), generator=gen)[:n]]
    blurred = torch.from_numpy(np.stack([
        cv2.GaussianBlur(f.permute(1, 2, 0).numpy(), (0, 0), 1.5) for f in real
    ])).permute(0, 3, 1, 2).to(real.dtype)
    noise = torch.randint(0, 256, real.shape, generator=gen).to(real.dtype)
    return dict(real_training_frames=real, blurred_training_frames=blurred,
                uniform_noise=noise)


def reference_scores(config, synthetic: dict, regressor: str, angles, n: int) -> dict:
    """The pose scores of each of :func:`reference_sets` in place of samples."""
    from vidreg_mm.evaluation import (FrameFID, PoseRegressorFeatures, kernel_inception_distance,
                                      manifold_metrics)
    frames = {s: load_frames(config, config.data_root, s, synthetic)[0] for s in SPLITS}
    feats = PoseRegressorFeatures(regressor, 'features')
    space = PoseRegressorFeatures(regressor, 'angles', angles)
    out = {}
    for name, fake in reference_sets(frames['train'], n).items():
        scores = out[name] = {}
        fake_f, fake_a = feats(fake).numpy(), space(fake)
        for split in SPLITS:
            real_f = feats(frames[split]).numpy()
            fd = FrameFID._calc_fid(fake_f.mean(0), np.cov(fake_f, rowvar=False),
                                                    real_f.mean(0), np.cov(real_f, rowvar=False))
            scores[f'PoseFD-{split}/fid'] = fd[0]
            scores[f'PoseKID-{split}/kid'] = float(
                kernel_inception_distance(real_f, fake_f)['kid'])
            div = manifold_metrics(space(frames[split]), fake_a, k=5)
            for key, value in div.items():
                scores[f'PoseDiversity-{split}/{key}'] = float(value)
    return out


def summarize(scores: dict, seeds) -> dict:
    """Mean over seeds of each metric per recipe, and the paired difference
    (temporal - baseline, same seed) with its sign in every seed."""
    keys = sorted(scores['baseline'][str(seeds[0])])
    out = {}
    for key in keys:
        b = [scores['baseline'][str(s)][key] for s in seeds]
        t = [scores['temporal'][str(s)][key] for s in seeds]
        if not all(isinstance(v, (int, float)) for v in b + t):
            continue
        diff = [y - x for x, y in zip(b, t)]
        out[key] = dict(baseline_mean=statistics.fmean(b), temporal_mean=statistics.fmean(t),
                        difference_per_seed=diff,
                        temporal_higher_in=sum(d > 0 for d in diff))
    return out


def main(argv=None):
    from mmengine.config import Config
    args = parse_args(argv)
    os.chdir(ROOT)
    configs = dict(baseline=args.baseline_config, temporal=args.temporal_config)
    config = Config.fromfile(args.temporal_config)
    synthetic = dict(config.synthetic)
    os.makedirs(args.work_dir, exist_ok=True)
    seconds = {}
    for seed in args.seeds:
        for recipe in RECIPES:
            work_dir = osp.join(args.work_dir, f'{recipe}_seed{seed}')
            if not osp.isfile(osp.join(work_dir, f'iter_{args.iters}.pth')):
                print(f'{recipe}, seed {seed}: training', flush=True)
                # no evaluation during training (MMEngine evaluates at the last iteration
                # whatever the interval, unless it lies before val_begin)
                opts = budget_options(seed, args.iters, args.iters + 1, args.fake_nums,
                                      args.sample_steps, checkpoint_interval=500)
                opts.append(f'train_cfg.val_begin={args.iters + 1}')
                train(configs[recipe], work_dir, opts, args.iters)
            record = osp.join(work_dir, 'benchmark_seconds.txt')
            if osp.isfile(record):  # also for runs trained by an earlier invocation
                seconds[f'{recipe}_seed{seed}'] = float(open(record).read())
    if args.runs_only:
        return None
    regressor = osp.join(args.work_dir, f'pose_regressor_extra{args.extra_sequences}.pth')
    reg_report = train_regressor(args, config, synthetic, regressor)
    angles = readable_curls(reg_report, args.min_r2)
    val = reg_report['val_accuracy']
    print(f"regressor on val frames: R^2 {val['r2']}; joint-angle space: {angles} "
          f'(R^2 >= {args.min_r2})', flush=True)
    if not angles:
        sys.exit(f'error: no finger curl reaches val R^2 >= {args.min_r2}: the regressor '
                 'cannot score poses (more --extra-sequences or --epochs)')
    evaluator = pose_evaluator(osp.abspath(regressor), angles, args.fake_nums)
    tag = '-'.join(name.replace('curl_', '') for name in angles)
    scores = {r: {} for r in RECIPES}
    for seed in args.seeds:
        for recipe in RECIPES:
            work_dir = osp.join(args.work_dir, f'{recipe}_seed{seed}')
            ckpt = osp.join(work_dir, f'iter_{args.iters}.pth')
            scores[recipe][str(seed)] = score_checkpoint(configs[recipe], ckpt, work_dir,
                                                         evaluator, args.sample_steps, tag)
            print(f'{recipe}, seed {seed}: ' + ', '.join(
                f'{k} {v:.4f}' for k, v in scores[recipe][str(seed)].items()
                if isinstance(v, float)), flush=True)
    references = reference_scores(config, synthetic, regressor, angles, args.fake_nums)
    floor = references['real_training_frames']
    report = dict(
        command='python -m benchmarks.pose_diversity ' + ' '.join(argv or []),
        configs=configs, seeds=args.seeds, iters=args.iters, fake_nums=args.fake_nums,
        sample_steps=args.sample_steps, regressor=reg_report, min_r2=args.min_r2,
        joint_angle_space=angles, summary=summarize(scores, args.seeds),
        references_in_place_of_samples=references, scores=scores, machine=machine(),
        train_seconds=seconds)
    write_report(args.out, report)
    for key, s in report['summary'].items():
        print(f"{key}: baseline {s['baseline_mean']:.4f}, temporal {s['temporal_mean']:.4f} "
              f"(higher in {s['temporal_higher_in']} of {len(args.seeds)} seeds); real frames "
              f"{floor.get(key, float('nan')):.4f}")
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

"""The pose benchmarks' regressor: frames of the synthetic hands to their finger curls and
all 20 joint angles, trained on further hands of the generator and checked on the val
sequences of the dataset, which it never sees (:mod:`benchmarks.pose_diversity` and
:mod:`benchmarks.convergence` score samples with it).

    python -m benchmarks.pose_regressor \
        --config configs/synthetic_hands_articulation_temporal_cpu.py \
        --out benchmarks/results/pose_regressor_articulation.json

trains one on the frames of the config's data (its pipeline, its resolution) and
``--extra-sequences`` further hands drawn with the config's ``synthetic`` options (its preset
included), into ``--checkpoint``, and fails unless every finger's curl reaches val R^2
``--min-r2`` (the rule is applied before the regressor scores any sample).
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def load_frames(config, data_root: str, split: str, synthetic: dict):
    """Frames (N x 3 x S x S uint8, the config's pipeline) and their joint angles (N x 20)."""
    from mmagic.registry import DATASETS
    from mmengine.registry import init_default_scope

    import vidreg_mm  # noqa: F401  registers the modules
    from vidreg_mm.datasets import synthetic_hands_poses
    init_default_scope('mmagic')
    dataset = DATASETS.build(dict(config.val_dataloader.dataset, data_root=data_root,
                                  split=split, generate_if_missing=synthetic))
    poses = synthetic_hands_poses(**synthetic)
    frames, angles = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        meta = item['data_samples'].metainfo
        frames.append(item['inputs'][0])
        angles.append(poses[int(meta['sequence']), int(meta['frame_inds'][0])])
    return torch.stack(frames), torch.as_tensor(np.stack(angles), dtype=torch.float32)


def r2_and_mae(pred: torch.Tensor, true: torch.Tensor):
    """Per column: coefficient of determination, mean absolute error."""
    ss_res = ((pred - true)**2).sum(0)
    ss_tot = ((true - true.mean(0))**2).sum(0)
    return (1 - ss_res / ss_tot).tolist(), (pred - true).abs().mean(0).tolist()


def predict(model, frames: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(frames[i:i + batch]) for i in range(0, len(frames), batch)])


def accuracy(model, frames, curls, mean, std, names) -> dict:
    """R^2 and mean absolute error (degrees) of every predicted angle; ``mean_r2`` and
    ``min_curl_r2`` over the finger curls."""
    r2, mae = r2_and_mae(predict(model, frames) * std + mean, curls)
    curl_r2 = [v for n, v in zip(names, r2) if n.startswith('curl_')]
    return dict(frames=len(frames), r2={n: round(v, 4) for n, v in zip(names, r2)},
                mae_deg={n: round(v * 180 / np.pi, 2) for n, v in zip(names, mae)},
                mean_r2=round(statistics.fmean(curl_r2), 4),
                min_curl_r2=round(min(curl_r2), 4))


def drawn_frames(args, synthetic: dict, size: int):
    """``--extra-sequences`` hands drawn by the generator (seed ``--extra-seed``), as the
    configs' pipeline reads frames (RGB, area-resized to ``size``), and their poses."""
    from vidreg_mm.datasets import sample_synthetic_hand_frames
    options = {k: v for k, v in synthetic.items() if k not in ('num_sequences', 'seed')}
    bgr, poses = sample_synthetic_hand_frames(args.extra_sequences, args.frames_per_sequence,
                                              args.extra_seed, workers=args.workers, **options)
    rgb = np.stack([cv2.resize(f[..., ::-1], (size, size), interpolation=cv2.INTER_AREA)
                    for f in bgr])
    return (torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous(),
            torch.as_tensor(poses, dtype=torch.float32))


def train_regressor(args, config, synthetic: dict, path: str) -> dict:
    """Train the pose regressor (frames to the 5 finger curls and the 20 joint angles) into
    ``path`` unless it is there; its report."""
    from vidreg_mm.datasets import CURL_NAMES, POSE_NAMES, finger_curls
    from vidreg_mm.evaluation.pose import (HandPoseRegressor, load_pose_regressor,
                                           save_pose_regressor)
    if osp.isfile(path):
        print(f'regressor: {path} exists, not retrained', flush=True)
        return load_pose_regressor(path)[1]['report']
    data_root = config.data_root
    train_x, train_y = load_frames(config, data_root, 'train', synthetic)
    val_x, val_y = load_frames(config, data_root, 'val', synthetic)
    sources = [f'{len(train_x)} training frames of {data_root}']
    if args.extra_sequences:
        xs, ys = drawn_frames(args, synthetic, train_x.shape[-1])
        train_x, train_y = torch.cat([train_x, xs]), torch.cat([train_y, ys])
        sources.append(f'{len(xs)} frames of {args.extra_sequences} hands drawn by the '
                       f'generator with seed {args.extra_seed} ({args.frames_per_sequence} '
                       'per hand)')
    names = list(CURL_NAMES) + list(POSE_NAMES)
    train_y, val_y = (torch.cat([finger_curls(y), y], 1) for y in (train_y, val_y))
    mean, std = train_y.mean(0), train_y.std(0)
    torch.manual_seed(0)
    arch = dict(num_angles=train_y.shape[1], input_size=train_x.shape[-1])
    model = HandPoseRegressor(**arch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = -(-len(train_x) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr,
                                                total_steps=args.epochs * steps_per_epoch)
    target = (train_y - mean) / std
    start, history = time.perf_counter(), []
    for epoch in range(args.epochs):
        model.train()
        perm, total = torch.randperm(len(train_x)), 0.0
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = F.mse_loss(model(train_x[idx]), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        val_loss = F.mse_loss(predict(model, val_x), (val_y - mean) / std).item()
        history.append(dict(epoch=epoch + 1, train_loss=round(total / len(perm), 4),
                            val_loss=round(val_loss, 4)))
        print(f'regressor epoch {epoch + 1}: train {total / len(perm):.4f}, val {val_loss:.4f}',
              flush=True)
    report = dict(trained_on=sources, targets=names, epochs=args.epochs,
                  batch_size=args.batch_size, lr=args.lr,
                  train_minutes=round((time.perf_counter() - start) / 60, 1), history=history,
                  train_accuracy=accuracy(model, train_x[:4096], train_y[:4096],
                                          mean, std, names),
                  val_accuracy=accuracy(model, val_x, val_y, mean, std, names))
    save_pose_regressor(path, model, arch, names, mean, std, report)
    return report


def readable_curls(report: dict, min_r2: float):
    """The finger curls whose val R^2 reaches ``min_r2``, in the order of CURL_NAMES."""
    from vidreg_mm.datasets import CURL_NAMES
    r2 = report['val_accuracy']['r2']
    return [name for name in CURL_NAMES if r2.get(name, float('-inf')) >= min_r2]


def checked_regressor(path: str, min_r2: float):
    """(report, curls) of a trained regressor, exiting unless every finger curl reaches val
    R^2 ``min_r2``: the rule a regressor passes before it scores any sample."""
    from vidreg_mm.evaluation.pose import load_pose_regressor
    report = load_pose_regressor(path)[1]['report']
    curls = readable_curls(report, min_r2)
    if len(curls) < 5:
        sys.exit(f'error: {path} reads only {curls} with val R^2 >= {min_r2}; train a better '
                 'one (python -m benchmarks.pose_regressor) before it scores samples')
    return report, curls


def add_training_args(p: argparse.ArgumentParser) -> None:
    """The regressor's options, shared by the benchmarks that train one."""
    p.add_argument('--extra-sequences', type=int, default=16000,
                   help='hands drawn by the generator with --extra-seed to train the '
                   'regressor on, besides the training frames (0: the training frames only)')
    p.add_argument('--frames-per-sequence', type=int, default=4)
    p.add_argument('--extra-seed', type=int, default=1000)
    p.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1),
                   help='processes that draw the further hands (the frames do not depend on '
                        'their number)')
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--lr', type=float, default=2e-3)


def main(argv=None):
    from mmengine.config import Config

    from .runs import ROOT, machine, write_report
    p = argparse.ArgumentParser(description='Train the pose regressor on a config\'s data')
    p.add_argument('--config', default='configs/synthetic_hands_articulation_temporal_cpu.py')
    p.add_argument('--checkpoint', default='work_dirs/benchmarks/pose_regressor/'
                   'articulation.pth', help='where the regressor is written (kept: a second '
                   'call reports it without training again)')
    p.add_argument('--min-r2', type=float, default=0.8,
                   help='every finger curl must reach this val R^2')
    p.add_argument('--out', default='benchmarks/results/pose_regressor_articulation.json')
    add_training_args(p)
    args = p.parse_args(argv)
    os.chdir(ROOT)
    config = Config.fromfile(args.config)
    os.makedirs(osp.dirname(osp.abspath(args.checkpoint)), exist_ok=True)
    report = train_regressor(args, config, dict(config.synthetic), args.checkpoint)
    val = report['val_accuracy']
    passed = readable_curls(report, args.min_r2)
    write_report(args.out, dict(
        command='python -m benchmarks.pose_regressor ' + ' '.join(argv or []),
        config=args.config, checkpoint=args.checkpoint, min_r2=args.min_r2,
        every_curl_readable=len(passed) == 5, regressor=report, machine=machine()))
    for name in report['targets']:
        print(f"  {name}: val R^2 {val['r2'][name]:.3f}, MAE {val['mae_deg'][name]:.1f} deg")
    if len(passed) < 5:
        sys.exit(f'error: val R^2 of the finger curls {[val["r2"][n] for n in val["r2"]][:5]}: '
                 f'not every curl reaches {args.min_r2}; the regressor must not score samples')
    print(f'every finger curl reaches val R^2 >= {args.min_r2} (lowest {val["min_curl_r2"]})')
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

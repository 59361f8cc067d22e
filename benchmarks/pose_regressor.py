"""The pose benchmark's regressor: frames of the synthetic hands to their finger curls,
trained on further hands of the generator and checked on held-out ones
(:mod:`benchmarks.pose_diversity` scores samples with it)."""
import os.path as osp
import statistics
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
    """R^2 and mean absolute error (degrees) of every finger's predicted curl."""
    r2, mae = r2_and_mae(predict(model, frames) * std + mean, curls)
    return dict(frames=len(frames), r2={n: round(v, 4) for n, v in zip(names, r2)},
                mae_deg={n: round(v * 180 / np.pi, 2) for n, v in zip(names, mae)},
                mean_r2=round(statistics.fmean(r2), 4))


def drawn_frames(args, synthetic: dict, size: int):
    """``--extra-sequences`` hands drawn by the generator (seed ``--extra-seed``), as the
    configs' pipeline reads frames (RGB, area-resized to ``size``), and their poses."""
    from vidreg_mm.datasets import sample_synthetic_hand_frames
    options = {k: v for k, v in synthetic.items() if k not in ('num_sequences', 'seed')}
    bgr, poses = sample_synthetic_hand_frames(args.extra_sequences, args.frames_per_sequence,
                                              args.extra_seed, **options)
    rgb = np.stack([cv2.resize(f[..., ::-1], (size, size), interpolation=cv2.INTER_AREA)
                    for f in bgr])
    return (torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous(),
            torch.as_tensor(poses, dtype=torch.float32))


def train_regressor(args, config, synthetic: dict, path: str) -> dict:
    """Train the pose regressor (frames to finger curls) into ``path`` unless it is there;
    its report."""
    from vidreg_mm.datasets import CURL_NAMES, finger_curls
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
    train_y, val_y = finger_curls(train_y), finger_curls(val_y)
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
    report = dict(trained_on=sources, targets=list(CURL_NAMES), epochs=args.epochs,
                  batch_size=args.batch_size, lr=args.lr,
                  train_minutes=round((time.perf_counter() - start) / 60, 1), history=history,
                  train_accuracy=accuracy(model, train_x[:4096], train_y[:4096],
                                          mean, std, CURL_NAMES),
                  val_accuracy=accuracy(model, val_x, val_y, mean, std, CURL_NAMES))
    save_pose_regressor(path, model, arch, CURL_NAMES, mean, std, report)
    return report


# --- 3. the scores -------------------------------------------------------------------------

"""Frame pairs per second through the data pipeline with one loader worker.

Writes synthetic hand videos at ``--src-size`` px twice, as HanCo-layout JPEGs and as mp4
files (one per clip), then times MMEngine dataloaders (``Runner.build_dataloader``, one
worker) that decode pairs and resize them to ``--size`` px: the JPEGs, and the mp4 files
with each video decoder (PyAV, the default, and decord). Prints one line per source and
writes the figures as JSON.

    python -m benchmarks.loader_throughput
"""
import argparse
import os
import os.path as osp
import platform
import tempfile
import time

import cv2

from vidreg_mm.datasets import write_video

from .runs import write_report

PIPELINE = [dict(type='LoadClipFrames'), dict(type='ResizeFrames'), dict(type='PackFrames')]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--src-size', type=int, default=224, help='stored frame size (px)')
    p.add_argument('--size', type=int, default=64, help='size after resizing (px)')
    p.add_argument('--sequences', type=int, default=8)
    p.add_argument('--frames', type=int, default=32)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--batches', type=int, default=40, help='timed batches per source')
    p.add_argument('--warmup', type=int, default=5, help='untimed batches first')
    p.add_argument('--out', default=osp.join(osp.dirname(__file__), 'results',
                                             'loader_throughput.json'))
    return p.parse_args()


def write_mp4s(handco_root, out_root, cameras):
    """One mp4 per (sequence, camera) clip of a HanCo-layout folder, under train/."""
    os.makedirs(osp.join(out_root, 'train'))
    rgb = osp.join(handco_root, 'rgb')
    for seq in sorted(os.listdir(rgb)):
        for cam in range(cameras):
            folder = osp.join(rgb, seq, f'cam{cam}')
            names = sorted(os.listdir(folder))
            write_video(osp.join(out_root, 'train', f'{seq}_cam{cam}.mp4'),
                        [cv2.cvtColor(cv2.imread(osp.join(folder, name)), cv2.COLOR_BGR2RGB)
                         for name in names])


def time_loader(data_root, split, args, video_decoder='pyav'):
    from mmengine.runner import Runner
    cfg = dict(batch_size=args.batch_size, num_workers=1, persistent_workers=False,
               sampler=dict(type='InfiniteSampler', shuffle=True),
               dataset=dict(type='VideoFramePairDataset', data_root=data_root, split=split,
                            offset_range=(-4, 4), pipeline=PIPELINE, frame_size=args.size,
                            video_decoder=video_decoder))
    loader = iter(Runner.build_dataloader(cfg, seed=0))
    for _ in range(args.warmup):
        next(loader)
    t0 = time.perf_counter()
    for _ in range(args.batches):
        batch = next(loader)
    elapsed = time.perf_counter() - t0
    assert tuple(batch['inputs'][0].shape) == (2, 3, args.size, args.size)
    return args.batches * args.batch_size / elapsed


def main():
    args = parse_args()
    from mmengine.registry import init_default_scope

    import vidreg_mm  # noqa: F401  registers the modules
    from vidreg_mm.datasets import generate_synthetic_hands
    init_default_scope('mmagic')
    cameras = 2
    results = dict(command='python -m benchmarks.loader_throughput',
                   machine=f'{platform.machine()}, {os.cpu_count()} cores',
                   src_size=args.src_size, size=args.size, batch_size=args.batch_size,
                   num_workers=1, pairs_per_second={})
    with tempfile.TemporaryDirectory() as tmp:
        handco = osp.join(tmp, 'handco')
        generate_synthetic_hands(handco, num_sequences=args.sequences, num_cameras=cameras,
                                 clip_length=args.frames, size=args.src_size, val_fraction=0.2)
        videos = osp.join(tmp, 'videos')
        write_mp4s(handco, videos, cameras)
        for name, root, split, decoder in (('handco_jpeg', handco, 'all', None),
                                           ('mp4_pyav', videos, 'train', 'pyav'),
                                           ('mp4_decord', videos, 'train', 'decord')):
            rate = time_loader(root, split, args, decoder or 'pyav')
            results['pairs_per_second'][name] = round(rate, 1)
            print(f'{name}: {rate:.1f} pairs/s ({args.src_size} px -> {args.size} px, '
                  f'1 worker, batch {args.batch_size})')
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    write_report(args.out, results)


if __name__ == '__main__':
    main()

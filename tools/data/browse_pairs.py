"""Write a PNG grid of sampled frame pairs, labelled with clip and offset.

Shows what the model is fed: either a config's training dataset with its own pipeline
(``--config``), or a dataset root read with a plain resize (``--data-root``).

Examples:
    python tools/data/browse_pairs.py --data-root data/synthetic_hands --out pairs.png
    python tools/data/browse_pairs.py --config configs/synthetic_hands_temporal_cpu.py
    python tools/data/browse_pairs.py --no-labels --size 128 --num 16 --cols 4 \
        --config configs/_base_/datasets/synthetic_hands_articulation.py  # 32 px frames, x4
"""
import argparse

import cv2
import numpy as np
from mmengine.config import Config, DictAction

from vidreg_mm.config_keys import merge_cli_options
from vidreg_mm.datasets import VideoFramePairDataset


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--config', help='use train_dataloader.dataset of this config')
    src.add_argument('--data-root', help='read this dataset root')
    p.add_argument('--split', default='train')
    p.add_argument('--offset-range', type=int, nargs=2, default=(-4, 4))
    p.add_argument('--size', type=int, default=96, help='tile size in pixels')
    p.add_argument('--num', type=int, default=12, help='number of pairs')
    p.add_argument('--cols', type=int, default=3, help='pairs per row')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default='pairs.png')
    p.add_argument('--no-labels', action='store_true',
                   help='leave the tiles unlabelled (small frames: the text would hide them)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return p.parse_args(argv)


def build_dataset(args):
    if args.config:
        from mmagic.registry import DATASETS
        from mmengine.registry import init_default_scope

        import vidreg_mm  # noqa: F401  registers the modules
        cfg = Config.fromfile(args.config)
        merge_cli_options(cfg, args.cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmagic'))
        return DATASETS.build(cfg.train_dataloader.dataset)
    pipeline = [dict(type='LoadClipFrames'), dict(type='ResizeFrames'), dict(type='PackFrames')]
    return VideoFramePairDataset(args.data_root, pipeline=pipeline, frame_size=args.size,
                                 split=args.split,
                                 offset_range=tuple(args.offset_range))


def label(tile, text):
    cv2.putText(tile, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 2,
                cv2.LINE_AA)
    cv2.putText(tile, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile


def pair_tiles(sample, size, labels=True):
    """Tiles of one packed sample (frames side by side), labelled (RGB uint8)."""
    frames = sample['inputs'].permute(0, 2, 3, 1).numpy()
    meta = sample['data_samples'].metainfo
    tiles = []
    for k, frame in enumerate(frames):
        tile = np.ascontiguousarray(cv2.resize(frame, (size, size),
                                               interpolation=cv2.INTER_NEAREST))
        text = f"{meta['clip_id']} f{meta['frame_inds'][k]}"
        if k == 1:
            text = f"d={meta['offset']:+d} f{meta['frame_inds'][k]}"
        tiles.append(label(tile, text) if labels else tile)
    return np.concatenate(tiles, axis=1)


def main(argv=None):
    args = parse_args(argv)
    np.random.seed(args.seed)
    dataset = build_dataset(args)
    num = min(args.num, len(dataset))
    rows, row = [], []
    for idx in np.random.choice(len(dataset), num, replace=False):
        row.append(pair_tiles(dataset[int(idx)], args.size, not args.no_labels))
        row.append(np.full((row[-1].shape[0], 4, 3), 255, np.uint8))
        if len(row) == 2 * args.cols:
            rows.append(np.concatenate(row, axis=1))
            row = []
    if row:
        width = rows[0].shape[1] if rows else sum(r.shape[1] for r in row)
        filled = np.concatenate(row, axis=1)
        pad = np.full((filled.shape[0], width - filled.shape[1], 3), 255, np.uint8)
        rows.append(np.concatenate([filled, pad], axis=1))
    grid = np.concatenate(rows, axis=0)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f'wrote {args.out}: {num} samples of {len(dataset)} ({dataset.num_clips} clips)')


if __name__ == '__main__':
    main()

"""Write the synthetic articulated-hand videos (HanCo layout) to a folder.

Example: python tools/data/make_synthetic_hands.py data/synthetic_hands --num-sequences 32
"""
import argparse
import os.path as osp
import sys
import time

from vidreg_mm.datasets import SyntheticHandsConfig, ensure_synthetic_hands


def parse_args(argv=None):
    d = SyntheticHandsConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out_dir', help='output folder (must not exist yet)')
    p.add_argument('--num-sequences', type=int, default=d.num_sequences)
    p.add_argument('--num-cameras', type=int, default=d.num_cameras)
    p.add_argument('--clip-length', type=int, default=d.clip_length)
    p.add_argument('--size', type=int, default=d.size, help='frame size in pixels')
    p.add_argument('--val-fraction', type=float, default=d.val_fraction,
                   help='fraction of sequences marked is_train=False')
    p.add_argument('--seed', type=int, default=d.seed)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(args.out_dir):
        sys.exit(f'error: {args.out_dir} already exists; choose a new folder')
    t0 = time.time()
    ensure_synthetic_hands(args.out_dir, num_sequences=args.num_sequences,
                           num_cameras=args.num_cameras, clip_length=args.clip_length,
                           size=args.size, val_fraction=args.val_fraction, seed=args.seed)
    n = args.num_sequences * args.num_cameras * args.clip_length
    print(f'wrote {n} frames ({args.num_sequences} sequences x {args.num_cameras} cameras x '
          f'{args.clip_length} frames, {args.size} px) to {args.out_dir} in '
          f'{time.time() - t0:.1f} s')


if __name__ == '__main__':
    main()

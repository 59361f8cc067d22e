"""Write the synthetic articulated-hand videos (HanCo layout) to a folder.

Example: python tools/data/make_synthetic_hands.py data/synthetic_hands --num-sequences 32

``--preset articulation``: one fixed camera, plain background, one skin tone, no object, the
hand filling the frame, so that finger articulation is the signal (the data of
configs/_base_/datasets/synthetic_hands_articulation.py, which writes it on first use).
"""
import argparse
import os.path as osp
import sys
import time

from vidreg_mm.datasets import PRESETS, SyntheticHandsConfig, ensure_synthetic_hands


def parse_args(argv=None):
    d = SyntheticHandsConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out_dir', help='output folder (must not exist yet)')
    p.add_argument('--num-sequences', type=int, default=d.num_sequences)
    p.add_argument('--preset', choices=PRESETS, default=d.preset,
                   help="what varies besides the fingers (default 'varied')")
    p.add_argument('--num-cameras', type=int,
                   help=f'default {d.num_cameras} (varied), 1 (articulation)')
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
    if args.num_cameras is None:
        args.num_cameras = 1 if args.preset == 'articulation' else SyntheticHandsConfig().num_cameras
    t0 = time.time()
    try:
        ensure_synthetic_hands(args.out_dir, num_sequences=args.num_sequences,
                               num_cameras=args.num_cameras, clip_length=args.clip_length,
                               size=args.size, val_fraction=args.val_fraction, seed=args.seed,
                               preset=args.preset)
    except ValueError as e:
        sys.exit(f'error: {e}')
    n = args.num_sequences * args.num_cameras * args.clip_length
    print(f'wrote {n} frames ({args.num_sequences} sequences x {args.num_cameras} cameras x '
          f'{args.clip_length} frames, {args.size} px, preset {args.preset}) to {args.out_dir} in '
          f'{time.time() - t0:.1f} s')


if __name__ == '__main__':
    main()

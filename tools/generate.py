"""Generate images from a checkpoint: N PNGs and a grid.

    python tools/generate.py configs/synthetic_hands_temporal_cpu.py \
        work_dirs/synthetic_hands_temporal_cpu/iter_1500.pth --num 64 --out work_dirs/gen

Writes <out>/00000.png ... (one per sample, RGB), <out>/grid.png and <out>/generate.json
(the settings, to reproduce them). Sample i depends on --seed and i only: the same images
whatever --batch-size (up to a grey level of kernel rounding). The sampler and its step
count default to the config's model (``model.sampler``, ``model.num_sample_steps``); the EMA
weights are used when the run kept them (--no-ema: the trained weights).
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile

import cv2
import torch
from mmengine.utils import ProgressBar

import vidreg_mm  # noqa: F401  registers the modules
from vidreg_mm.engine import write_grid
from vidreg_mm.inference import add_checkpoint_arguments, model_of_args


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Generate images from a vidreg-mm checkpoint')
    add_checkpoint_arguments(p)
    p.add_argument('--num', type=int, default=16, help='number of images (default 16)')
    p.add_argument('--out', required=True, help='folder for the PNGs, the grid and the JSON')
    p.add_argument('--sampler', help="'ddim' or 'ddpm' ('euler' or 'heun' for flow matching); "
                   "default: the config's model.sampler")
    p.add_argument('--steps', type=int, help="sampling steps (default: model.num_sample_steps)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--batch-size', type=int, default=64, help='samples per forward pass')
    p.add_argument('--nrow', type=int, help='images per row of the grid (default: square)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--overwrite', action='store_true',
                   help='replace images that --out already holds (refused by default)')
    return p.parse_args(argv)


def check_args(args) -> None:
    for name in ('num', 'batch_size', 'steps', 'nrow'):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be >= 1, got {value}")


def output_paths(out: str, num: int, overwrite: bool):
    """The files this run writes into ``out``, checked before any sampling: ``out`` is a
    folder this process can write to (made here), and none of the files exist unless
    ``overwrite``."""
    if osp.exists(out) and not osp.isdir(out):
        raise SystemExit(f'error: --out {out} is a file, not a folder: choose another --out')
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise SystemExit(f'error: cannot write into --out {out}: {e}') from None
    names = [osp.join(out, f'{i:05d}.png') for i in range(num)] + [
        osp.join(out, 'grid.png'), osp.join(out, 'generate.json')]
    taken = [p for p in names if osp.exists(p)]
    if taken and not overwrite:
        raise SystemExit(f'error: {out} already holds {len(taken)} of the files this would '
                         f'write (e.g. {taken[0]}): choose another --out, or pass --overwrite')
    return names


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    paths = output_paths(args.out, args.num, args.overwrite)
    model, which = model_of_args(args, args.device)
    sampler = args.sampler or model.sampler
    if sampler not in model.samplers:
        raise SystemExit(f'error: --sampler {sampler!r}: this model samples with one of '
                         f'{tuple(model.samplers)}')
    steps = args.steps or model.num_sample_steps
    print(f'{args.num} samples from {which} of {args.checkpoint}: {sampler}, {steps} steps, '
          f'seed {args.seed}', flush=True)
    bar = ProgressBar(args.num)
    imgs = model.infer(num_samples=args.num, num_steps=steps, sampler=sampler, seed=args.seed,
                       batch_size=args.batch_size,
                       progress=lambda n: [bar.update() for _ in range(n)])
    sys.stdout.write('\n')
    for img, path in zip(imgs, paths):
        if not cv2.imwrite(path, cv2.cvtColor(img.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2BGR)):
            raise SystemExit(f'error: could not write {path}')
    write_grid(imgs, paths[-2], args.nrow)
    with open(paths[-1], 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint, weights=which,
                       num=args.num, sampler=sampler, steps=steps, seed=args.seed,
                       cfg_options=args.cfg_options and dict(args.cfg_options)), f, indent=2)
    print(f'wrote {args.num} images, {paths[-2]} and {paths[-1]}')
    return imgs


if __name__ == '__main__':
    main()

"""What an evaluation costs on one GPU: images/s through the FID Inception-v3 and samples/s of
the temporal config's model (DDIM), in fp32 and under bf16 autocast.

    python -m benchmarks.gpu_eval --out benchmarks/results/gpu_eval.json   # GPU: ~40 s
    python -m benchmarks.gpu_eval --tiny --out /tmp/gpu_eval.json         # CPU: seconds

Inception: batches of ``--inception-batch`` frames at the config's resolution, resized to 299
px inside the extractor as in every evaluation (the packaged Inception, or ``--inception``,
a file of tools/inception_half.py). Sampling: ``model.infer`` of configs/handco_temporal.py
(random weights: the cost does not depend on them) for ``--num-samples`` samples of
``--sample-steps`` DDIM steps in batches of ``--sample-batch``. From both, the minutes that
one evaluation of the config (its ``fake_nums`` samples, scored against its real frames)
takes. ``--tiny``: a small network at 32 px, a few images (the test suite).
"""
import argparse
import copy
import os
import sys
import time
from contextlib import nullcontext

import torch

from .gpu_step import TINY
from .runs import ROOT, machine, write_report


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default='configs/handco_temporal.py')
    p.add_argument('--inception', help='an Inception file other than the packaged one')
    p.add_argument('--inception-batch', type=int, default=250)
    p.add_argument('--inception-batches', type=int, default=8)
    p.add_argument('--num-samples', type=int, default=256)
    p.add_argument('--sample-batch', type=int, default=128)
    p.add_argument('--sample-steps', type=int, default=50)
    p.add_argument('--tiny', action='store_true')
    p.add_argument('--out', default='benchmarks/results/gpu_eval.json')
    return p.parse_args(argv)


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def autocast(device: str, precision: str):
    if precision == 'fp32':
        return nullcontext()
    return torch.autocast(device_type=device, dtype=torch.bfloat16)


def inception_rate(args, size: int, device: str, precision: str) -> float:
    """Images/s through the FID Inception (the first batch untimed)."""
    from vidreg_mm.evaluation import PackagedInceptionV3
    net = PackagedInceptionV3(args.inception).to(device)
    images = torch.randint(0, 256, (args.inception_batch, 3, size, size), device=device)
    with autocast(device, precision):
        net(images)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.inception_batches):
            net(images)
        sync(device)
    return args.inception_batches * args.inception_batch / (time.perf_counter() - t0)


def sampling_rate(model, args, device: str, precision: str) -> float:
    """Samples/s of ``model.infer`` (a first small batch untimed)."""
    with autocast(device, precision):
        model.infer(num_samples=2, num_steps=2, batch_size=2)
        sync(device)
        t0 = time.perf_counter()
        model.infer(num_samples=args.num_samples, num_steps=args.sample_steps,
                    batch_size=args.sample_batch)
        sync(device)
    return args.num_samples / (time.perf_counter() - t0)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    from mmagic.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import vidreg_mm  # noqa: F401  registers the modules
    init_default_scope('mmagic')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg = Config.fromfile(args.config)
    if args.tiny:
        cfg.model.unet.update(TINY['unet'], image_size=TINY['resolution'])
        cfg.val_dataloader.dataset.frame_size = TINY['resolution']
        args.inception_batch, args.inception_batches = 4, 1
        args.num_samples, args.sample_batch, args.sample_steps = 4, 4, 2
    size = cfg.val_dataloader.dataset.frame_size
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model)).to(device).eval()
    report = dict(command='python -m benchmarks.gpu_eval ' + ' '.join(argv or []),
                  config=args.config, tiny=args.tiny, device=device, frame_size=size,
                  inception_batch=args.inception_batch, num_samples=args.num_samples,
                  sample_batch=args.sample_batch, sample_steps=args.sample_steps,
                  machine=machine(), inception_images_per_s={}, samples_per_s={})
    precisions = ('fp32', 'bf16') if device == 'cuda' else ('fp32', )
    for precision in precisions:
        try:
            rate = inception_rate(args, size, device, precision)
            report['inception_images_per_s'][precision] = round(rate, 1)
            print(f'Inception ({precision}): {rate:.1f} images/s', flush=True)
        except (FileNotFoundError, ValueError) as e:  # no Inception here: say so, go on
            report['inception_images_per_s'][precision] = None
            report['inception_error'] = str(e)
            print(f'Inception: {e}', flush=True)
        rate = sampling_rate(model, args, device, precision)
        report['samples_per_s'][precision] = round(rate, 2)
        print(f'sampling ({precision}, {args.sample_steps} steps): {rate:.1f} samples/s',
              flush=True)
        write_report(args.out, report)
    fake = cfg.val_evaluator.metrics.fid_val.fake_nums
    best_sample = max(report['samples_per_s'].values())
    incep = [v for v in report['inception_images_per_s'].values() if v]
    report['evaluation_minutes'] = dict(
        fake_nums=fake, sampling=round(fake / best_sample / 60, 2),
        inception_of_samples=round(fake / max(incep) / 60, 2) if incep else None)
    write_report(args.out, report)
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

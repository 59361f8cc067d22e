"""Which sampler leaves grain: roughness of samples of trained checkpoints under DDIM and DDPM
at several step counts, and where in the reverse process the grain enters.

    W=work_dirs/benchmarks/convergence_articulation
    python -m benchmarks.sampler_grain \
        --run $W/baseline_seed3/baseline_config_with_pose_metrics.py \
              $W/baseline_seed3/iter_4000.pth \
        --run $W/temporal_seed3/temporal_config_with_pose_metrics.py \
              $W/temporal_seed3/iter_4000.pth \
        --out benchmarks/results/sampler_grain.json

For each checkpoint (EMA weights), ``--num`` samples from the same seeds per setting:
- the project's samplers (``model.infer``: diffusers' DDIMScheduler with eta 0, or
  DDPMScheduler, built from the training scheduler's config) at each of ``--steps``;
- ``ddim_eta1``: DDIM with eta 1 at ``--switch-steps`` steps (the ancestral variance);
- ``switch``: DDIM at ``--switch-steps`` steps that is deterministic (eta 0) above t = T and
  stochastic (eta 1) below it, and the reverse, for each T of ``--switch-at``: where the grain
  enters.

Per setting: the mean roughness (vidreg_mm.evaluation.metrics.roughness, 0..255) and the
fraction of samples rougher than the roughest 1% of real val frames (``grainy``), next to the
real frames' mean. ``<out>_samples.png``: 16 samples of the first checkpoint under the first
``--steps`` with DDIM and DDPM, next to real val frames.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

import torch

from .figures import grids_figure, val_frames
from .runs import ROOT, machine, write_report


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--run', nargs=2, action='append', required=True,
                        metavar=('CONFIG', 'CHECKPOINT'))
    parser.add_argument('--num', type=int, default=64)
    parser.add_argument('--steps', type=int, nargs='+', default=[25, 50, 100])
    parser.add_argument('--switch-steps', type=int, default=50)
    parser.add_argument('--switch-at', type=int, nargs='*', default=[100, 300, 500, 700, 900])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', required=True)
    return parser.parse_args(argv)


def real_roughness(config: str, num: int = 512) -> torch.Tensor:
    """Roughness of ``num`` val frames of the config (evenly spaced)."""
    from vidreg_mm.evaluation.metrics.roughness import roughness
    return roughness(val_frames(config, num).float())


def ddim_eta(model, noise: torch.Tensor, num_steps: int, eta_of_t, seed: int) -> torch.Tensor:
    """The model's DDIM sampler (its scheduler, as ``model.sample`` builds it) with eta
    chosen per timestep; samples in 0..255."""
    scheduler = model.objective.sampler_scheduler('ddim')
    scheduler.set_timesteps(num_steps)
    # the steps' noise from another stream than the initial noise's (the same seed would add
    # the initial noise again at the first stochastic step)
    x, gen = noise.clone(), torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for t in scheduler.timesteps:
            t_batch = torch.full((x.shape[0], ), int(t), dtype=torch.long)
            pred = model.denoise(x, t_batch).float()
            x = scheduler.step(pred, t, x, eta=eta_of_t(int(t)), generator=gen).prev_sample
    return model.data_preprocessor.destruct(x.clamp(-1, 1))


def measure(config: str, checkpoint: str, args) -> dict:
    from vidreg_mm.evaluation.metrics.roughness import roughness
    from vidreg_mm.inference import load_model
    model, weights = load_model(config, checkpoint)
    real = real_roughness(config)
    limit = float(torch.quantile(real, 0.99))
    out = dict(config=config, checkpoint=checkpoint, weights=weights,
               real_roughness=float(real.mean()), grainy_threshold=limit, settings={})

    def record(name, images, seconds):
        r = roughness(images.float())
        out['settings'][name] = dict(roughness=float(r.mean()),
                                     grainy=float((r > limit).float().mean()),
                                     seconds=round(seconds, 1))
        print(f'  {name:28s} roughness {r.mean():6.2f}  grainy '
              f"{out['settings'][name]['grainy']:.2f}  ({seconds:.0f} s)", flush=True)

    for sampler in ('ddim', 'ddpm'):
        for steps in args.steps:
            start = time.perf_counter()
            imgs = model.infer(num_samples=args.num, num_steps=steps, sampler=sampler,
                               seed=args.seed)
            record(f'{sampler}_{steps}', imgs, time.perf_counter() - start)
    shape = (args.num, model.in_channels, model.image_size, model.image_size)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(args.seed))
    n = args.switch_steps
    start = time.perf_counter()
    record(f'ddim_eta1_{n}', ddim_eta(model, noise, n, lambda t: 1.0, args.seed),
           time.perf_counter() - start)
    for at in args.switch_at:
        for name, above, below in (('deterministic_above', 0.0, 1.0),
                                   ('stochastic_above', 1.0, 0.0)):
            start = time.perf_counter()
            imgs = ddim_eta(model, noise, n, lambda t: above if t >= at else below, args.seed)
            record(f'{name}_{at}_{n}', imgs, time.perf_counter() - start)
    return out


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    import vidreg_mm  # noqa: F401  registers the modules
    runs = []
    for config, checkpoint in args.run:
        print(f'{checkpoint}:', flush=True)
        runs.append(measure(config, checkpoint, args))
    report = dict(command='python -m benchmarks.sampler_grain ' + ' '.join(argv or sys.argv[1:]),
                  num=args.num, seed=args.seed, runs=runs, machine=machine())
    write_report(args.out, report)
    grids = []
    config, checkpoint = args.run[0]
    for sampler in ('ddim', 'ddpm'):
        sub = osp.join('work_dirs', 'sampler_grain', sampler)
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'generate.py'), config,
                        checkpoint, '--num', '16', '--sampler', sampler, '--steps',
                        str(args.steps[0]), '--out', sub, '--overwrite'], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        grids.append((f'{sampler.upper()}, {args.steps[0]} steps', osp.join(sub, 'grid.png')))
    png = grids_figure(grids, config, osp.splitext(args.out)[0] + '_samples.png')
    print(f'wrote {args.out} and {png}')
    return report


if __name__ == '__main__':
    main()

"""The training step of configs/handco_temporal.py on one GPU, in every precision and layout:
median step time, frames/s, peak memory, the temporal recipe against the baseline at equal
frames, and the share of the GPU's dense bf16 peak that the step's FLOPs reach.

    python -m benchmarks.gpu_step --out benchmarks/results/gpu_step.json   # GPU: ~5 min
    python -m benchmarks.gpu_step --tiny --out /tmp/gpu_step.json          # CPU: seconds

The complete MMEngine ``train_step`` (preprocessing, forward, the loss, backward, gradient
clipping, AdamW) of the temporal config (32 pairs per GPU) and of its baseline (64 single
frames) on synthetic hands at the config's 128 px, for each setting of :data:`SETTINGS`: fp32,
AMP fp16 and AMP bf16 (MMEngine's AmpOptimWrapper with that dtype, what ``tools/train.py
--amp`` and ``optim_wrapper.dtype`` select), each with the default layout and with
channels_last, and torch.compile (MMEngine's ``compile`` key: the model's train_step compiled)
of bf16 in the faster layout measured before it. The two recipes' steps alternate in one
process (:func:`benchmarks.runs.timed_rounds`). FLOPs per frame: torch's FlopCounterMode over
one fp32 step (forward and backward), divided by the frames; utilisation: FLOPs per second at
the median step time over ``--peak-tflops`` (H200: about 790 dense bf16 TFLOP/s, measured). The
loader side: pairs/s of one worker decoding HanCo's 224 px JPEGs to 128 px
(benchmarks.loader_throughput), and the workers the fastest step needs against the config's
``num_workers``. The report is rewritten after every setting (a killed run keeps what it
measured). ``--tiny`` shrinks everything to a CPU test (a small network at 32 px, fp32 only:
AMP needs a GPU).
"""
import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace

import torch

from .runs import ROOT, machine, timed_rounds, write_report

#: (name, precision, channels_last, compiled), in the order they run: what a GPU session
#: must not miss first (a session's budget can stop the rest; on the H200, channels_last
#: was slower in fp32 and bf16 alike, benchmarks/results/gpu_step_*.json); the compiled one
#: takes the layout of the fastest eager setting of its precision measured before it
SETTINGS = [('amp_bf16', 'bfloat16', False, False),
            ('amp_bf16_compiled', 'bfloat16', None, True),
            ('fp32', 'fp32', False, False),
            ('amp_fp16', 'float16', False, False),
            ('amp_bf16_channels_last', 'bfloat16', True, False),
            ('fp32_channels_last', 'fp32', True, False),
            ('amp_fp16_channels_last', 'float16', True, False)]
TINY = dict(resolution=32, unet=dict(base_channels=32, resblocks_per_downsample=1,
                                     channels_cfg=[1, 2], attention_res=[8],
                                     norm_cfg=dict(type='GN', num_groups=16)),
            batch_pairs=4, src_size=64)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--temporal-config', default='configs/handco_temporal.py')
    p.add_argument('--baseline-config', default='configs/handco_baseline.py')
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--rounds', type=int, default=20, help='timed steps of each recipe')
    p.add_argument('--settings', nargs='+', default=[s[0] for s in SETTINGS],
                   choices=[s[0] for s in SETTINGS])
    p.add_argument('--peak-tflops', type=float, default=790.0,
                   help="the GPU's dense bf16 peak (H200: ~790 measured)")
    p.add_argument('--loader-batches', type=int, default=20)
    p.add_argument('--tiny', action='store_true', help='a CPU-sized run (the test suite)')
    p.add_argument('--out', default='benchmarks/results/gpu_step.json')
    return p.parse_args(argv)


def make_config(path: str, data_root: str, tiny: bool):
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    if tiny:
        cfg.model.unet.update(TINY['unet'], image_size=TINY['resolution'])
        cfg.train_dataloader.dataset.frame_size = TINY['resolution']
        pairs = cfg.train_dataloader.dataset.get('pair_mode', True)
        cfg.train_dataloader.batch_size = TINY['batch_pairs'] * (1 if pairs else 2)
    cfg.train_dataloader.dataset.update(data_root=data_root, generate_if_missing=None)
    return cfg


def build(cfg, precision: str, channels_last: bool, compiled: bool, device: str, seed=0):
    """(model, optim wrapper, batch, frames) of one recipe and setting, on ``device``."""
    from mmagic.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    wrapper = copy.deepcopy(cfg.optim_wrapper)
    if precision != 'fp32':
        wrapper.update(type='FiniteLossAmpOptimWrapper', dtype=precision, loss_scale='dynamic')
    optim = build_optim_wrapper(model, wrapper)
    loader = copy.deepcopy(cfg.train_dataloader)
    loader.update(num_workers=0, persistent_workers=False)
    batch = next(iter(Runner.build_dataloader(loader, seed=seed)))
    batch = dict(batch, inputs=[x.to(device) for x in batch['inputs']])
    frames = sum(x.shape[0] for x in batch['inputs'])
    if compiled:  # what MMEngine's Runner does for cfg.compile (its _maybe_compile)
        model.train_step = torch.compile(model.train_step)
    return model, optim, batch, frames


def flops_per_frame(cfg, device: str) -> float:
    """FLOPs of one fp32 training step (forward and backward) per frame."""
    from torch.utils.flop_counter import FlopCounterMode
    model, optim, batch, frames = build(cfg, 'fp32', False, False, device)
    counter = FlopCounterMode(display=False)
    with counter:
        model.train_step(batch, optim)
    return counter.get_total_flops() / frames


def sync(device: str):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def measure(cfgs: dict, name: str, precision: str, channels_last: bool, compiled: bool,
            args, device: str) -> dict:
    """Median step time, frames/s and peak memory of both recipes under one setting."""
    runs = {}
    for recipe, cfg in cfgs.items():
        runs[recipe] = build(cfg, precision, channels_last, compiled, device)
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()

    def step(recipe):
        model, optim, batch, _ = runs[recipe]

        def run():
            model.train_step(batch, optim)
            sync(device)
        return run

    t0 = time.perf_counter()
    times = timed_rounds({r: step(r) for r in runs}, args.warmup, args.rounds)
    out = dict(precision=precision, channels_last=channels_last, compiled=compiled,
               seconds=round(time.perf_counter() - t0, 1))
    for recipe, ts in times.items():
        med = statistics.median(ts)
        out[recipe] = dict(median_ms=round(med * 1000, 2), frames=runs[recipe][3],
                           frames_per_s=round(runs[recipe][3] / med, 1))
    out['ratio_temporal_over_baseline'] = round(
        out['temporal']['median_ms'] / out['baseline']['median_ms'], 4)
    if device.startswith('cuda'):
        out['peak_memory_gib'] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(f"{name}: temporal {out['temporal']['median_ms']} ms, baseline "
          f"{out['baseline']['median_ms']} ms per step ({out['temporal']['frames']} frames), "
          f"ratio {out['ratio_temporal_over_baseline']}", flush=True)
    return out


def loader_side(data_root: str, size: int, args) -> float:
    """Pairs/s of one loader worker: the JPEGs at 224 px decoded and resized to ``size``."""
    from .loader_throughput import time_loader
    opts = SimpleNamespace(batch_size=8 if args.tiny else 32, warmup=2,
                           batches=args.loader_batches, size=size)
    return time_loader(data_root, 'all', opts)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    from mmengine.registry import init_default_scope

    import vidreg_mm  # noqa: F401  registers the modules
    from vidreg_mm.datasets import generate_synthetic_hands
    init_default_scope('mmagic')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda':
        torch.backends.cudnn.benchmark = True
    report = dict(command='python -m benchmarks.gpu_step ' + ' '.join(argv or []),
                  configs=dict(temporal=args.temporal_config, baseline=args.baseline_config),
                  tiny=args.tiny, warmup=args.warmup, rounds=args.rounds, device=device,
                  machine=machine(), settings={}, skipped={})
    with tempfile.TemporaryDirectory() as tmp:
        src = TINY['src_size'] if args.tiny else 224
        generate_synthetic_hands(tmp, num_sequences=4, num_cameras=2, clip_length=16,
                                 size=src, val_fraction=0.25)
        cfgs = {r: make_config(p, tmp, args.tiny) for r, p in
                (('temporal', args.temporal_config), ('baseline', args.baseline_config))}
        size = cfgs['temporal'].train_dataloader.dataset.frame_size
        report['frame_size'] = size
        report['flops_per_frame'] = flops_per_frame(cfgs['temporal'], device)
        # the loader first: it is quick, and a run stopped during the settings keeps it
        pairs = loader_side(tmp, size, args)
        workers = cfgs['temporal'].train_dataloader.num_workers
        report['loader'] = dict(pairs_per_s_per_worker=round(pairs, 1), source_px=src,
                                frame_size=size, config_workers=workers)
        write_report(args.out, report)
        for name, precision, channels_last, compiled in SETTINGS:
            if name not in args.settings:
                continue
            if precision != 'fp32' and device != 'cuda':
                report['skipped'][name] = "MMEngine's AmpOptimWrapper needs a GPU"
                continue
            if compiled:  # the layout of the fastest eager setting of this precision
                eager = {k: v for k, v in report['settings'].items()
                         if v['precision'] == precision and not v['compiled']}
                channels_last = bool(eager) and min(
                    eager.values(), key=lambda v: v['temporal']['median_ms'])['channels_last']
            try:
                result = measure(cfgs, name, precision, channels_last, compiled, args, device)
            except Exception as e:  # one setting's failure (a compile error) leaves the rest
                report['skipped'][name] = f'{type(e).__name__}: {e}'[:500]
                print(f'{name}: failed: {e}', flush=True)
                continue
            flops = report['flops_per_frame'] * result['temporal']['frames']
            achieved = flops / (result['temporal']['median_ms'] / 1000)
            result['utilisation_of_peak'] = float(f'{achieved / (args.peak_tflops * 1e12):.4g}')
            report['settings'][name] = result
            write_report(args.out, report)
        best = min(report['settings'], key=lambda k: report['settings'][k]['temporal']['median_ms'])
        report['best'] = dict(setting=best, **{k: report['settings'][best][k] for k in (
            'utilisation_of_peak', 'ratio_temporal_over_baseline')})
        consumed = report['settings'][best]['temporal']['frames_per_s']
        needed = consumed / 2 / pairs
        report['loader'].update(frames_per_s_consumed=consumed,
                                workers_needed=float(f'{needed:.4g}'),
                                loader_bottleneck=needed > workers)
    write_report(args.out, report)
    print(f"best: {best}, {100 * report['best']['utilisation_of_peak']:.1f}% of "
          f"{args.peak_tflops:.0f} TFLOP/s, temporal/baseline "
          f"{report['best']['ratio_temporal_over_baseline']}; loader: {pairs:.0f} pairs/s per "
          f'worker, {needed:.1f} workers needed, the config has {workers}')
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

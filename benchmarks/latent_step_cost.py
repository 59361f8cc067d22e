"""Cost of the autoencoder in a latent training step: the encoder pass against the rest of
the step, and the step with the latent cache against without.

    python -m benchmarks.latent_step_cost                       # the CPU recipe, ~1 minute
    python -m benchmarks.latent_step_cost --config configs/handco_temporal_latent.py \\
        --random-autoencoder sd --batch-size 2 --rounds 3 --out \\
        benchmarks/results/latent_step_cost_handco.json        # HanCo's sizes, ~5 minutes

Builds the config's model twice from one seed (without a cache, and with
``latent_cache_dir`` in a temporary folder) with their optimizer wrappers, and times on one
batch of random frames of the config's size: MMEngine's complete ``train_step`` of each
(the cached model's cache is filled in the warm-up, so its timed steps read every frame's
posterior from disk: a later epoch), and the encoder pass alone. Rounds alternate the three,
the order flipping every round. ``--random-autoencoder sd`` replaces the config's
autoencoder by a randomly initialised one of Stable Diffusion's architecture (the weights do
not change the cost), for configs whose folder is not here. Writes a JSON; the last line
printed is the step-time ratio, uncached / cached.
"""
import argparse
import copy
import os
import shutil
import statistics
import sys
import tempfile

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import vidreg_mm  # noqa: F401  registers the modules
from vidreg_mm.config_keys import merge_cli_options
from vidreg_mm.run_config import frames_per_sample

from .runs import ROOT, machine, timed_rounds, write_report

#: Stable Diffusion's KL autoencoder (f = 8, 4 latent channels), randomly initialised
SD_AUTOENCODER = dict(
    type='AutoencoderKL', in_channels=3, out_channels=3,
    down_block_types=['DownEncoderBlock2D'] * 4, up_block_types=['UpDecoderBlock2D'] * 4,
    block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
    norm_num_groups=32, scaling_factor=0.18215)
AUTOENCODERS = dict(sd=SD_AUTOENCODER)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default='configs/synthetic_hands_latent_temporal_cpu.py')
    p.add_argument('--batch-size', type=int, default=None,
                   help="clips per step (default: the config's train batch size)")
    p.add_argument('--random-autoencoder', choices=sorted(AUTOENCODERS), default=None)
    p.add_argument('--warmup', type=int, default=3, help='untimed rounds first')
    p.add_argument('--rounds', type=int, default=20, help='timed rounds')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--out', default='benchmarks/results/latent_step_cost.json')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    init_default_scope('mmagic')
    MessageHub.get_current_instance().update_info('iter', 1000)  # past any lambda warm-up
    from mmagic.registry import MODELS
    cfg = Config.fromfile(args.config)
    merge_cli_options(cfg, args.cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    if args.random_autoencoder:
        model_cfg.autoencoder = AUTOENCODERS[args.random_autoencoder]
    cache = tempfile.mkdtemp(prefix='latent-cache-')
    models, optims = {}, {}
    for name, cache_dir in (('uncached', None), ('cached', cache)):
        torch.manual_seed(args.seed)
        models[name] = MODELS.build(dict(model_cfg, latent_cache_dir=cache_dir)).train()
        optims[name] = build_optim_wrapper(models[name], copy.deepcopy(cfg.optim_wrapper))
    model = models['uncached']
    batch_size = args.batch_size or cfg.train_dataloader.batch_size
    frames_per_clip = frames_per_sample(cfg.train_dataloader.dataset)
    g = torch.Generator().manual_seed(args.seed)
    size = model.pixel_size
    batch = dict(inputs=[torch.randint(0, 256, (frames_per_clip, 3, size, size), generator=g,
                                       dtype=torch.uint8) for _ in range(batch_size)])
    clips = model.data_preprocessor(batch, True)['inputs']

    steps = dict(uncached=lambda: models['uncached'].train_step(batch, optims['uncached']),
                 cached=lambda: models['cached'].train_step(batch, optims['cached']),
                 encoder=lambda: model.latent.encode(clips))
    times = timed_rounds(steps, args.warmup, args.rounds)
    med = {name: statistics.median(t) for name, t in times.items()}
    cache_stats = dict(hits=models['cached'].latent.cache.hits,
                       misses=models['cached'].latent.cache.misses)
    shutil.rmtree(cache, ignore_errors=True)
    report = dict(
        command='python -m benchmarks.latent_step_cost ' + ' '.join(argv or []),
        config=args.config, random_autoencoder=args.random_autoencoder,
        frames_per_step=batch_size * frames_per_clip, pixel_size=size,
        latent_shape=[model.latent.channels, model.image_size, model.image_size],
        warmup=args.warmup, rounds=args.rounds, median_seconds=med,
        encoder_share_of_uncached_step=med['encoder'] / med['uncached'],
        rest_of_step_seconds=med['uncached'] - med['encoder'],
        speedup_cached=med['uncached'] / med['cached'], cache=cache_stats,
        machine=machine(), seconds={n: [round(x, 5) for x in t] for n, t in times.items()})
    write_report(args.out, report)
    for name in times:
        print(f'{name}: median {med[name] * 1000:.1f} ms')
    print(f'encoder share of the uncached step: {report["encoder_share_of_uncached_step"]:.3f}')
    print(f'ratio uncached/cached: {report["speedup_cached"]:.3f}')
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

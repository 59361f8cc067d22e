"""Export a checkpoint to a diffusers pipeline folder.

    python tools/export_diffusers.py configs/synthetic_hands_unet2d_temporal_cpu.py \
        work_dirs/synthetic_hands_unet2d_temporal_cpu/iter_1500.pth work_dirs/hands_pipeline

then, anywhere diffusers is installed:

    from diffusers import DDIMPipeline, DDPMPipeline
    pipe = DDIMPipeline.from_pretrained('work_dirs/hands_pipeline')
    images = pipe(batch_size=16, num_inference_steps=50).images      # PIL, RGB

The folder (``save_pretrained``: model_index.json, unet/ with safetensors weights,
scheduler/) holds the denoiser with the EMA weights (--no-ema: the trained ones) and the
training scheduler (betas, prediction type). A latent model (``model.autoencoder``)
exports as diffusers' ``LDMPipeline`` with its autoencoder (vqvae/) and a DDIM scheduler:

    from diffusers import LDMPipeline
    pipe = LDMPipeline.from_pretrained('work_dirs/hands_latent_pipeline')
    images = pipe(batch_size=16, num_inference_steps=50).images

Only denoisers that are diffusers models (``UNet2DModel``) trained with the DDPM objective
export; others stop with the reason.
"""
import argparse
import json
import os
import os.path as osp

import vidreg_mm  # noqa: F401  registers the modules
from vidreg_mm.inference import (ExportError, add_checkpoint_arguments, export_diffusers,
                                 model_of_args)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Export a vidreg-mm checkpoint to diffusers')
    add_checkpoint_arguments(p)
    p.add_argument('out', help='pipeline folder to write (must not hold one already)')
    p.add_argument('--overwrite', action='store_true', help='replace a pipeline in OUT')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(osp.join(args.out, 'model_index.json')) and not args.overwrite:
        raise SystemExit(f'error: {args.out} already holds a pipeline: choose another OUT, or '
                         'pass --overwrite')
    model, which = model_of_args(args)
    try:
        export_diffusers(model, args.out)
    except ExportError as e:
        raise SystemExit(f'error: cannot export: {e}') from None
    with open(osp.join(args.out, 'vidreg_mm_export.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint, weights=which,
                       prediction_type=model.scheduler.config.prediction_type), f, indent=2)
    loader = ('LDMPipeline' if getattr(model, 'latent', None) is not None else
              'DDIMPipeline (or DDPMPipeline)')
    print(f'wrote {sorted(os.listdir(args.out))} to {args.out} ({which}); load it with '
          f'diffusers.{loader}.from_pretrained({args.out!r})')
    return args.out


if __name__ == '__main__':
    main()

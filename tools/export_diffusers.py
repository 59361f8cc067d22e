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
from vidreg_mm.fileio import write_folder
from vidreg_mm.inference import (ExportError, add_checkpoint_arguments, export_diffusers,
                                 model_of_args)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Export a vidreg-mm checkpoint to diffusers')
    add_checkpoint_arguments(p)
    p.add_argument('out', help='pipeline folder to write (must not exist or be empty)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace OUT whole (its old files go; it is swapped in complete)')
    return p.parse_args(argv)


def check_out(out: str, overwrite: bool) -> None:
    """OUT must be a new or empty folder, or replaced whole with --overwrite: files left from
    an earlier export (another scheduler, a vqvae/ of a latent model) would be mixed into a
    pipeline that diffusers loads."""
    if osp.exists(out) and not osp.isdir(out):
        raise SystemExit(f'error: {out} is a file, not a folder: choose another OUT')
    held = sorted(os.listdir(out)) if osp.isdir(out) else []
    if held and not overwrite:
        raise SystemExit(f'error: {out} is not empty (it holds {held[:5]}): an export into it '
                         'would mix old files into the pipeline. Choose another OUT, or pass '
                         '--overwrite to replace the folder whole')


def main(argv=None):
    args = parse_args(argv)
    check_out(args.out, args.overwrite)
    model, which = model_of_args(args)

    def write(folder: str) -> None:
        export_diffusers(model, folder)
        with open(osp.join(folder, 'vidreg_mm_export.json'), 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, weights=which,
                           prediction_type=model.scheduler.config.prediction_type), f, indent=2)

    try:  # written beside OUT and renamed into place: never a half pipeline
        write_folder(args.out, write, replace=True)
    except ExportError as e:
        raise SystemExit(f'error: cannot export: {e}') from None
    except OSError as e:
        raise SystemExit(f'error: cannot write {args.out}: {e}') from None
    loader = ('LDMPipeline' if getattr(model, 'latent', None) is not None else
              'DDIMPipeline (or DDPMPipeline)')
    print(f'wrote {sorted(os.listdir(args.out))} to {args.out} ({which}); load it with '
          f'diffusers.{loader}.from_pretrained({args.out!r})')
    return args.out


if __name__ == '__main__':
    main()

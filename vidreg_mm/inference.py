"""Use a trained checkpoint: the model of a config with a checkpoint's weights (generation,
export), and its export to a diffusers pipeline."""
import os
from typing import Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .engine import load_local_checkpoint, refuse_mismatch, sampling_weights
from .engine.checkpoint_io import refuse_other_training


class ExportError(ValueError):
    """A model that diffusers' unconditional pipelines cannot hold; the message says why."""


def add_checkpoint_arguments(parser):
    """The command line of the tools that use a trained checkpoint (tools/generate.py,
    tools/export_diffusers.py): CONFIG, CHECKPOINT, --ema/--no-ema, --allow-mismatch,
    --cfg-options."""
    import argparse

    from mmengine.config import DictAction
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--ema', action=argparse.BooleanOptionalAction, default=True,
                        help='the EMA weights (default) or, --no-ema, the trained ones')
    parser.add_argument('--allow-mismatch', action='store_true',
                        help="load a checkpoint whose weights do not match the config's "
                        'model (what fits is loaded); refused by default')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.sampler=ddpm')
    return parser


def model_of_args(args, device: str = 'cpu') -> Tuple[torch.nn.Module, str]:
    """:func:`load_model` for :func:`add_checkpoint_arguments`' arguments; errors end the
    command with their message (SystemExit)."""
    from .config_check import ConfigError
    from .engine import CheckpointError
    if not os.path.isfile(args.checkpoint):
        raise SystemExit(f'error: checkpoint {args.checkpoint} does not exist')
    try:
        return load_model(args.config, args.checkpoint, ema=args.ema,
                          cfg_options=args.cfg_options, allow_mismatch=args.allow_mismatch,
                          device=device)
    except (CheckpointError, ConfigError) as e:
        raise SystemExit(f'error: {e}') from None
    except ValueError as e:  # a module refused its arguments (the message names them)
        raise SystemExit(f'error: invalid config: {e}') from None


def load_model(config: str, checkpoint: str, ema: bool = True,
               cfg_options: Optional[dict] = None, allow_mismatch: bool = False,
               device: str = 'cpu') -> Tuple[torch.nn.Module, str]:
    """The config's model with the checkpoint's weights (EMA or trained:
    :func:`vidreg_mm.engine.sampling_weights`), in eval mode; and which weights they are.
    A checkpoint trained as another model (objective, schedule, latent space, frames per
    clip) or whose weights do not fit the model is a ``CheckpointError`` naming the
    differences, unless ``allow_mismatch`` (what fits is loaded)."""
    from .config_check import ConfigError
    from .config_keys import merge_options, unknown_keys
    cfg = Config.fromfile(config)
    if cfg_options:
        merge_options(cfg, dict(cfg_options))
    errors = unknown_keys(dict(model=cfg.model))
    if errors:
        raise ConfigError('invalid config:\n  ' + '\n  '.join(errors))
    init_default_scope(cfg.get('default_scope', 'mmagic'))
    from mmagic.registry import MODELS
    model = MODELS.build(cfg.model)
    safe = ((cfg.get('default_hooks') or {}).get('weights_only') or {}).get('safe_globals', ())
    loaded = load_local_checkpoint(checkpoint, 'cpu', safe)
    weights, which = sampling_weights(checkpoint, ema=ema, checkpoint=loaded)
    if not allow_mismatch:
        from .run_config import trained_as
        refuse_other_training(trained_as(model, cfg), loaded, checkpoint, '--allow-mismatch')
        refuse_mismatch(model, weights, checkpoint, '--allow-mismatch')
    model.load_state_dict(weights, strict=not allow_mismatch)
    return model.to(device).eval(), which


def diffusers_pipeline(model):
    """A diffusers ``DDPMPipeline`` holding the model's denoiser and its training scheduler
    (betas, prediction type, clipping): ``DDPMPipeline`` samples with it as trained, and
    ``DDIMPipeline.from_pretrained`` of the saved folder converts it to DDIM, as this project's
    DDIM sampler does. A latent model (``model.autoencoder``) gives diffusers' unconditional
    latent pipeline, ``LDMPipeline``, with the autoencoder (under its name ``vqvae``: the
    pipeline only calls ``decode`` and reads ``config.scaling_factor``, which AutoencoderKL
    has) and a ``DDIMScheduler`` of the training schedule (the pipeline steps without a
    generator, so DDIM, deterministic, is the sampler it reproduces). A LoRA model is
    exported with its adapters merged into the weights. Raises
    :class:`ExportError` for what the pipelines cannot hold."""
    from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, LDMPipeline, UNet2DModel
    if not isinstance(model.scheduler, DDPMScheduler):
        raise ExportError(
            f'model.diffusion_scheduler is {type(model.scheduler).__name__}; the pipelines '
            'are written with a DDPMScheduler, so only DDPM-objective models export (for '
            'flow matching, diffusers 0.24, the version MMagic 1.2 runs with, has no '
            'flow-matching scheduler for its unconditional pipelines)')
    from .models.finetune import merged_network

    # the diffusers model in MMagic's wrapper; LoRA adapters merged into a copy of it, so
    # that the pipeline loads without peft
    inner = merged_network(model.unet)
    if getattr(model, 'conditioning', None) is not None:
        raise ExportError(
            f'model.unet is a conditional {type(inner).__name__} (model.conditioning): '
            "diffusers' unconditional pipelines (DDPM, DDIM, LDM) give their UNet no "
            'encoder_hidden_states. Sample it with tools/generate.py')
    if not isinstance(inner, UNet2DModel):
        raise ExportError(
            f'model.unet is {type(model.unet).__name__}, which diffusers cannot load: '
            'DDPMPipeline and DDIMPipeline hold a diffusers UNet2DModel. Train with '
            "model.unet=dict(type='UNet2DModel', ...) (configs/"
            'synthetic_hands_unet2d_temporal_cpu.py) to export; MMagic\'s DenoisingUnet '
            'checkpoints sample with tools/generate.py')
    if getattr(model, 'latent', None) is not None:
        return LDMPipeline(vqvae=model.latent.vae, unet=inner,
                           scheduler=DDIMScheduler.from_config(model.scheduler.config))
    scheduler = DDPMScheduler.from_config(model.scheduler.config)
    return DDPMPipeline(unet=inner, scheduler=scheduler)


def export_diffusers(model, out: str) -> str:
    """Write :func:`diffusers_pipeline` of ``model`` to the folder ``out`` (safetensors
    weights, ``model_index.json``); returns ``out``."""
    pipe = diffusers_pipeline(model)
    os.makedirs(out, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    return out

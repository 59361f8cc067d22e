"""Rules of a config that span several keys, checked before the Runner starts.

Each module checks its own arguments when it is built (and names them); what no single module
can see is checked here, and every violation is reported at once by its config keys.
tools/train.py and tools/test.py call :func:`check_config`.
"""
from typing import List, Optional, Tuple


class ConfigError(ValueError):
    """Invalid config values; the message names each key."""


#: the largest batch a dataloader may ask for (per process); a typo such as 10**9 would
#: otherwise make the first step gather that many samples before failing
MAX_BATCH_SIZE = 65536


def _loss_default(key: str):
    """A TemporalRegLoss option's default (the class owns it)."""
    import inspect

    from .models import TemporalRegLoss
    return inspect.signature(TemporalRegLoss).parameters[key].default


def _downsamplings(unet: dict) -> Optional[Tuple[str, object, int]]:
    """(key of the size, size, number of 2x downsamplings) of a known denoiser, or None."""
    kind = unet.get('type')
    if kind == 'DenoisingUnet':
        size, channels = unet.get('image_size'), unet.get('channels_cfg')
        if isinstance(size, (list, tuple)):
            size = size[0]
        if isinstance(channels, dict):
            channels = channels.get(size)
        if channels is None:  # MMagic's defaults per size
            from mmagic.models.editors.ddpm.denoising_unet import DenoisingUnet
            channels = DenoisingUnet._default_channels_cfg.get(size)
        if channels is None:
            return None
        return 'model.unet.image_size', size, len(channels) - 1
    if kind == 'UNet2DModel':
        blocks, size = unet.get('down_block_types'), unet.get('sample_size')
        if blocks is None or size is None:
            return None
        return 'model.unet.sample_size', size, len(blocks) - 1
    return None


def _metric_prefixes(evaluator) -> List[str]:
    metrics = (evaluator or {}).get('metrics') or {}
    if isinstance(metrics, dict) and 'type' not in metrics:
        metrics = [m for m in metrics.values() if m is not None]
    elif isinstance(metrics, dict):
        metrics = [metrics]
    return [m.get('prefix') for m in metrics if isinstance(m, dict)]


def _tracking_errors(cfg) -> List[str]:
    """``default_hooks.checkpoint.save_best`` names a metric the validation reports;
    ``wandb.enabled`` has the wandb package to log with."""
    errors = []
    best = ((cfg.get('default_hooks') or {}).get('checkpoint') or {}).get('save_best')
    prefixes = _metric_prefixes(cfg.get('val_evaluator'))
    for key in ([best] if isinstance(best, str) else best or []):
        if key != 'auto' and key.split('/')[0] not in prefixes:
            errors.append(f'default_hooks.checkpoint.save_best={key!r}: the validation '
                          f'reports no such metric (its metrics: {prefixes}); name one of '
                          'them, or set save_best=None')
    wandb = cfg.get('wandb') or {}
    if isinstance(wandb, dict) and wandb.get('enabled'):
        import importlib.util
        if importlib.util.find_spec('wandb') is None:
            errors.append('wandb.enabled=True: the wandb package is not installed '
                          '(pip install wandb, then wandb login; or wandb.enabled=False)')
    return errors


def check_config(cfg, splits=('train', 'val')) -> None:
    """Raise :class:`ConfigError` listing every cross-key rule of ``cfg`` that the given
    ``splits`` break (``('train', 'val')`` for training, ``('test', )`` for testing):

    - the denoiser's size is a multiple of 2 ** (its number of downsamplings);
    - a regulariser (``model.loss.lambda_reg > 0``) has pairs to act on
      (``train_dataloader.dataset.pair_mode``);
    - ``default_hooks.checkpoint.max_keep_ckpts`` is not 1 (MMEngine deletes the kept
      checkpoint before it writes the next one);
    - each dataloader's ``batch_size`` is an integer in [1, MAX_BATCH_SIZE];
    - ``default_hooks.checkpoint.save_best`` names a metric of ``val_evaluator``, and
      ``wandb.enabled`` has the wandb package (training);
    - every key of a module's dict is an argument of its class
      (:func:`vidreg_mm.config_keys.unknown_keys`);
    - ``default_hooks.weights_only`` is a ``WeightsOnlyCheckpointHook`` (without it, the
      checkpoints a run writes hold MMEngine objects that weights-only loading refuses, and
      nothing could resume or test them).
    """
    from .config_keys import unknown_keys
    errors: List[str] = unknown_keys(cfg)
    model = cfg.get('model') or {}
    found = _downsamplings(model.get('unet') or {})
    if found:
        key, size, downs = found
        if not isinstance(size, int) or size < 1 or size % 2**downs:
            errors.append(f'{key}={size!r}: {model["unet"]["type"]} halves the resolution '
                          f'{downs} times, so the size must be a positive multiple of '
                          f'{2**downs}')
    for split in splits:
        loader = cfg.get(f'{split}_dataloader') or {}
        size = loader.get('batch_size', 1)
        if isinstance(size, bool) or not isinstance(size, int) or not (
                1 <= size <= MAX_BATCH_SIZE):
            errors.append(f'{split}_dataloader.batch_size={size!r}: must be an integer in '
                          f'[1, {MAX_BATCH_SIZE}] (samples per process and step)')
    if 'train' in splits:
        lam = (model.get('loss') or {}).get('lambda_reg', _loss_default('lambda_reg'))
        dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
        if dataset.get('pair_mode', True) is False and isinstance(lam, (int, float)) and lam > 0:
            errors.append(f'model.loss.lambda_reg={lam!r} with train_dataloader.dataset.'
                          'pair_mode=False: the regulariser needs pairs; set pair_mode=True, '
                          'or lambda_reg=0 for the single-frame baseline')
        keep = ((cfg.get('default_hooks') or {}).get('checkpoint') or {}).get(
            'max_keep_ckpts', -1)
        if keep == 1:
            errors.append(f'default_hooks.checkpoint.max_keep_ckpts={keep!r}: must be <= 0 '
                          '(keep all) or >= 2: MMEngine deletes the oldest kept checkpoint '
                          'before writing the next, so with 1 a kill while saving leaves none')
        errors += _tracking_errors(cfg)
    hook = (cfg.get('default_hooks') or {}).get('weights_only')
    if not (isinstance(hook, dict) and hook.get('type') in ('WeightsOnlyCheckpointHook',
                                                             'mmagic.WeightsOnlyCheckpointHook')):
        errors.append(f'default_hooks.weights_only={hook!r}: must be '
                      "dict(type='WeightsOnlyCheckpointHook'): it makes the checkpoints a run "
                      'writes loadable by --resume, load_from and tools/test.py (weights-only '
                      'loading) and checks that loaded weights match the model; without it '
                      'every checkpoint of the run would be refused')
    if errors:
        raise ConfigError('invalid config:\n  ' + '\n  '.join(errors))

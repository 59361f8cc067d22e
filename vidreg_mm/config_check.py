"""Check a training or test config before the Runner starts: every invalid value is
reported at once, by its config key, with the values allowed.

tools/train.py and tools/test.py call :func:`check_config`; the modules check their own
arguments too, but only this check knows the keys the user wrote.
"""
import numbers
import os.path as osp
from typing import List

from .datasets.frame_pair_dataset import OFFSET_DISTRIBUTIONS, check_offset_range
from .models.losses.temporal_reg_loss import PREDICTION_TYPES, SPACES, WEIGHTS
from .models.temporal_diffusion import NONFINITE_LOSS_ACTIONS, SAMPLERS


class ConfigError(ValueError):
    """Invalid config values; the message names each key."""


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_choice(errors, key, value, allowed):
    if value not in allowed:
        errors.append(f'{key}={value!r}: must be one of {tuple(allowed)}')


def _downsamplings(unet: dict):
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
        blocks = unet.get('down_block_types')
        size = unet.get('sample_size')
        if blocks is None or size is None:
            return None
        return 'model.unet.sample_size', size, len(blocks) - 1
    return None


def _check_model(cfg, errors: List[str]) -> float:
    model = cfg.get('model') or {}
    _check_choice(errors, 'model.prediction_type', model.get('prediction_type', 'eps'),
                  PREDICTION_TYPES)
    _check_choice(errors, 'model.sampler', model.get('sampler', 'ddim'), tuple(SAMPLERS))
    _check_choice(errors, 'model.nonfinite_loss', model.get('nonfinite_loss', 'stop'),
                  NONFINITE_LOSS_ACTIONS)
    steps = model.get('num_sample_steps', 50)
    if not isinstance(steps, int) or steps < 1:
        errors.append(f'model.num_sample_steps={steps!r}: must be an integer >= 1')
    loss = model.get('loss') or {}
    lam = loss.get('lambda_reg', 1.0)
    if not _is_number(lam) or not lam >= 0:
        errors.append(f'model.loss.lambda_reg={lam!r}: must be a number >= 0 '
                      '(0 turns the regulariser off)')
        lam = 0.0
    _check_choice(errors, 'model.loss.space', loss.get('space', 'output'), SPACES)
    _check_choice(errors, 'model.loss.weight', loss.get('weight', 'none'), WEIGHTS)
    if 'prediction_type' in loss:
        _check_choice(errors, 'model.loss.prediction_type', loss['prediction_type'],
                      PREDICTION_TYPES)
    unet = model.get('unet') or {}
    found = _downsamplings(unet)
    if found:
        key, size, downs = found
        if not isinstance(size, int) or size < 1 or size % 2**downs:
            errors.append(f'{key}={size!r}: {unet["type"]} halves the resolution {downs} '
                          f'times, so the size must be a positive multiple of {2**downs}')
    return float(lam)


def _check_loader(cfg, split: str, errors: List[str]):
    key = f'{split}_dataloader'
    loader = cfg.get(key)
    if not loader:
        return None
    batch = loader.get('batch_size')
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        errors.append(f'{key}.batch_size={batch!r}: must be an integer >= 1 (samples per '
                      'process: pairs in pair mode, frames in single-frame mode)')
    dataset = loader.get('dataset') or {}
    if dataset.get('type') != 'VideoFramePairDataset':
        return dataset
    try:
        check_offset_range(dataset.get('offset_range', (-4, 4)))
    except ValueError as e:
        errors.append(f'{key}.dataset.offset_range={dataset.get("offset_range")!r}: {e}')
    _check_choice(errors, f'{key}.dataset.offset_distribution',
                  dataset.get('offset_distribution', 'uniform'), OFFSET_DISTRIBUTIONS)
    root = dataset.get('data_root')
    if not root or (not osp.exists(root) and not dataset.get('generate_if_missing')):
        errors.append(f'{key}.dataset.data_root={root!r}: no such folder (a HanCo root, a '
                      'folder of videos or a folder of frame folders)')
    return dataset


def check_config(cfg, splits=('train', 'val')) -> None:
    """Raise :class:`ConfigError` listing every invalid value of ``cfg`` that the given
    ``splits`` use (``('train', 'val')`` for training, ``('test', )`` for testing)."""
    errors: List[str] = []
    lam = _check_model(cfg, errors)
    datasets = {split: _check_loader(cfg, split, errors) for split in splits}
    train = datasets.get('train')
    if train and lam > 0 and train.get('pair_mode', True) is False:
        errors.append(f'model.loss.lambda_reg={lam!r} with train_dataloader.dataset.'
                      'pair_mode=False: the regulariser needs pairs; set pair_mode=True, or '
                      'lambda_reg=0 for the single-frame baseline')
    if 'train' in splits:
        ckpt = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
        keep = ckpt.get('max_keep_ckpts', -1)
        if keep == 1:
            errors.append(f'default_hooks.checkpoint.max_keep_ckpts={keep!r}: must be <= 0 '
                          '(keep all) or >= 2: MMEngine deletes the oldest kept checkpoint before '
                          'writing the next, so with 1 a kill while saving leaves none')
    if errors:
        raise ConfigError('invalid config:\n  ' + '\n  '.join(errors))

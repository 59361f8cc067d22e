"""An unconditional image diffusion model that trains on frame pairs in MMEngine's Runner."""
import weakref
from collections import OrderedDict
from copy import deepcopy
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmagic.registry import DIFFUSION_SCHEDULERS, MODELS
from mmagic.structures import DataSample
from mmengine.dist import get_dist_info
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from torch import Tensor
from torch import distributed as dist
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ..registry import mmagic_scope
from .losses.temporal_reg_loss import PREDICTION_TYPES

SAMPLERS = {'ddpm': 'DDPMScheduler', 'ddim': 'DDIMScheduler'}
DIFFUSERS_PREDICTION = {'eps': 'epsilon', 'x0': 'sample', 'v': 'v_prediction'}


def _network_output(out) -> Tensor:
    """The prediction of a denoiser: a tensor, MMagic's ``{'sample': ...}`` dict, or a
    diffusers output with ``.sample``."""
    if torch.is_tensor(out):
        return out
    if isinstance(out, dict):
        if 'sample' not in out:
            raise KeyError(f"the denoiser returned a dict without 'sample' (keys: "
                           f'{sorted(out)})')
        return out['sample']
    if hasattr(out, 'sample'):
        return out.sample
    raise TypeError(f'cannot read a prediction from a {type(out).__name__}')


def _as_tensor(values) -> Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32)


NONFINITE_LOSS_ACTIONS = ('stop', 'skip')
# Models whose next optimizer step is skipped (a non-finite loss under nonfinite_loss='skip').
_SKIP_NEXT_STEP: 'weakref.WeakSet' = weakref.WeakSet()
_step_hook_registered = False


def _skip_pending_steps(optimizer, args, kwargs):
    """torch optimizer step pre-hook: for a model in ``_SKIP_NEXT_STEP``, drop the gradients
    of its parameters, so that the optimizer leaves them and their state (moments, step
    count, weight decay) exactly as they were: the step is skipped, not taken with zero
    gradients."""
    for model in list(_SKIP_NEXT_STEP):
        own = {id(p) for p in model.parameters()}
        hit = False
        for group in optimizer.param_groups:
            for p in group['params']:
                if id(p) in own:
                    p.grad, hit = None, True
        if hit:
            _SKIP_NEXT_STEP.discard(model)


@MODELS.register_module()
class TemporalDiffusionModel(BaseModel):
    """Diffusion model whose training step is the temporal-regularised loss on frame pairs.

    The network is any denoiser of MMagic's MODELS registry (``DenoisingUnet``, diffusers
    models such as ``UNet2DModel`` through MMagic's wrapper) under the key ``unet``. The noise
    schedule comes from ``diffusion_scheduler`` (MMagic's ``EditDDPMScheduler`` or a diffusers
    scheduler through ``DIFFUSION_SCHEDULERS``); sampling uses diffusers' DDPM or DDIM
    scheduler on the same betas.

    ``train_step`` is MMEngine's: preprocess, ``forward(mode='loss')`` under the optim
    wrapper's context (AMP), update (gradient clipping), so it runs unchanged under DDP and
    with MMEngine's EMAHook. ``forward(mode='loss')`` makes one draw of timesteps and noise
    and ONE network forward over all frames of the batch (see :class:`TemporalRegLoss`).
    ``val_step``/``test_step`` generate one sample per input sample and return MMagic
    ``DataSample`` s with ``fake_img`` (float, 0..255, BGR as MMagic's metrics read it).

    Args:
        unet (dict): the denoiser config.
        diffusion_scheduler (dict): the training noise schedule.
        loss (dict): the loss config (``TemporalRegLoss``); ``prediction_type`` is set from
            this model's key.
        prediction_type (str): what the network predicts: 'eps', 'x0' or 'v'.
        data_preprocessor (dict): default ``FramePairDataPreprocessor``.
        sampler (str): 'ddim' or 'ddpm' for val/test. Default: 'ddim'.
        num_sample_steps (int): sampling steps for val/test. Default: 50.
        sample_seed (int): base seed of val/test samples (each sample seeded by its index).
        image_size (int, optional): sample size; read from the denoiser when not given.
        nonfinite_loss (str): what a NaN or infinite training loss does: 'stop' raises
            ``FloatingPointError`` naming the iteration and the loss terms (the last
            checkpoint is intact); 'skip' logs a warning and skips that optimizer step
            (no parameter or optimizer state changes; ``skipped_steps`` is logged). Ranks
            agree: if one rank's loss is non-finite, every rank stops or skips. Default:
            'stop'.
    """

    def __init__(self,
                 unet: dict,
                 diffusion_scheduler: dict = dict(type='EditDDPMScheduler',
                                                  num_train_timesteps=1000),
                 loss: dict = dict(type='TemporalRegLoss'),
                 prediction_type: str = 'eps',
                 data_preprocessor: Optional[dict] = dict(type='FramePairDataPreprocessor'),
                 sampler: str = 'ddim',
                 num_sample_steps: int = 50,
                 sample_seed: int = 0,
                 image_size: Optional[int] = None,
                 nonfinite_loss: str = 'stop',
                 init_cfg: Optional[dict] = None):
        with mmagic_scope():  # BaseModel builds the preprocessor from the default scope
            super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f'model.prediction_type must be one of {PREDICTION_TYPES}, got '
                             f'{prediction_type!r}')
        if sampler not in SAMPLERS:
            raise ValueError(f'model.sampler must be one of {tuple(SAMPLERS)}, got {sampler!r}')
        if nonfinite_loss not in NONFINITE_LOSS_ACTIONS:
            raise ValueError(f'model.nonfinite_loss must be one of {NONFINITE_LOSS_ACTIONS}, '
                             f'got {nonfinite_loss!r}')
        self.nonfinite_loss, self.skipped_steps = nonfinite_loss, 0
        loss = deepcopy(loss)
        if loss.get('prediction_type', prediction_type) != prediction_type:
            raise ValueError(f"model.loss.prediction_type={loss['prediction_type']!r} differs "
                             f'from model.prediction_type={prediction_type!r}: set it once, on '
                             'the model')
        loss['prediction_type'] = prediction_type
        self.prediction_type = prediction_type
        self.unet = MODELS.build(unet)
        self.loss = MODELS.build(loss)
        scheduler = DIFFUSION_SCHEDULERS.build(diffusion_scheduler)
        self.register_buffer('betas', _as_tensor(scheduler.betas), persistent=False)
        self.register_buffer('alphas_cumprod', torch.cumprod(1 - self.betas.double(), 0).float(),
                             persistent=False)
        self.sampler, self.num_sample_steps, self.sample_seed = (sampler, int(num_sample_steps),
                                                                 int(sample_seed))
        self.image_size = image_size or self._denoiser_size()
        self._num_generated = 0  # samples generated for metrics that give no sample index
        self.in_channels = self._denoiser_channels()

    # -- the network --------------------------------------------------------------------------
    def _denoiser_size(self) -> int:
        size = getattr(self.unet, 'image_size', None)
        if size is None and hasattr(self.unet, 'config'):
            size = self.unet.config.get('sample_size')
        if size is None:
            raise ValueError('cannot read the sample size from the denoiser; set '
                             'model.image_size')
        return int(size[0] if isinstance(size, (list, tuple)) else size)

    def _denoiser_channels(self) -> int:
        channels = getattr(self.unet, 'in_channels', None)
        if channels is None and hasattr(self.unet, 'config'):
            channels = self.unet.config.get('in_channels')
        return int(channels or 3)

    def denoise(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The network's prediction (eps, x0 or v) for noisy frames at timesteps ``t``."""
        pred = _network_output(self.unet(x_t, t))
        if pred.shape != x_t.shape:
            raise ValueError(f'the denoiser returned {tuple(pred.shape)} for input '
                             f'{tuple(x_t.shape)}; it must predict one value per input value '
                             '(learned variances are not supported: for DenoisingUnet set '
                             "output_cfg=dict(mean=..., var='fixed'))")
        return pred

    @property
    def num_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    # -- training -----------------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                num_frames: int = 1, mode: str = 'loss'):
        if mode == 'loss':
            if tuple(inputs.shape[-2:]) != (self.image_size, self.image_size):
                raise ValueError(
                    f'the data gives {tuple(inputs.shape[-2:])} frames but the model samples '
                    f'{self.image_size} x {self.image_size} images: make the data pipeline\'s '
                    'size and model.unet.image_size (or model.image_size) agree')
            iteration = MessageHub.get_current_instance().get_info('iter', 0)
            return self.loss(self.denoise, inputs, num_frames, self.alphas_cumprod, iteration)
        if mode == 'predict':
            if isinstance(inputs, dict):  # MMagic's generative metrics ask for N samples
                return self.predict(data_samples, num_samples=int(inputs['num_batches']))
            return self.predict(data_samples, num_samples=inputs.shape[0] // num_frames)
        raise ValueError(f"mode must be 'loss' or 'predict', got {mode!r}")

    def parse_losses(self, losses: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """MMEngine's sum of the loss terms, checked for NaN and infinity before backward
        (``nonfinite_loss``). Runs in MMEngine's train_step and in its DDP wrapper's alike."""
        loss, log_vars = super().parse_losses(losses)
        here = not bool(torch.isfinite(loss.detach()))
        bad = torch.tensor(int(here), device=loss.device)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)  # every rank stops or skips
        if not bad.item():
            if self.skipped_steps:
                log_vars['skipped_steps'] = torch.tensor(float(self.skipped_steps))
            return loss, log_vars
        iteration = MessageHub.get_current_instance().get_info('iter', 0) + 1
        terms = ', '.join(f'{k}={float(v):.6g}' for k, v in log_vars.items())
        what = (f'non-finite training loss at iteration {iteration} '
                + (f'({terms})' if here else 'on another rank'))
        if self.nonfinite_loss == 'stop':
            raise FloatingPointError(
                f'{what}; stopped before the optimizer step, so the last checkpoint is '
                "unaffected (set model.nonfinite_loss='skip' to skip such steps instead)")
        self.skipped_steps += 1
        print_log(f'{what}: step skipped ({self.skipped_steps} so far)', logger='current',
                  level=30)
        self._skip_next_step()
        # a zero loss that reaches every parameter: backward (and DDP's gradient reduction)
        # run as usual, with exact zeros; the optimizer step is then skipped
        zero = sum((p.reshape(-1)[:1] * 0).sum() for p in self.parameters() if p.requires_grad)
        return zero, OrderedDict(skipped_steps=torch.tensor(float(self.skipped_steps)))

    def _skip_next_step(self):
        global _step_hook_registered
        if not _step_hook_registered:
            register_optimizer_step_pre_hook(_skip_pending_steps)
            _step_hook_registered = True
        _SKIP_NEXT_STEP.add(self)

    # -- sampling -----------------------------------------------------------------------------
    def build_sampler(self, sampler: str):
        """A diffusers DDPM/DDIM scheduler (through MMagic's registry) on this model's betas."""
        if sampler not in SAMPLERS:
            raise ValueError(f'sampler must be one of {tuple(SAMPLERS)}, got {sampler!r}')
        return DIFFUSION_SCHEDULERS.build(dict(
            type=SAMPLERS[sampler], num_train_timesteps=self.num_timesteps,
            trained_betas=self.betas.double().cpu().numpy(),
            prediction_type=DIFFUSERS_PREDICTION[self.prediction_type], clip_sample=True))

    @torch.no_grad()
    def sample(self, noise: Tensor, num_steps: int, sampler: str = 'ddim',
               generator: Optional[List[torch.Generator]] = None) -> Tensor:
        """Run the reverse process from ``noise`` (N x C x H x W); returns frames in [-1, 1].

        ``generator``: one per sample for the stochastic steps (DDPM), so that a sample does
        not depend on the batch it is drawn in.
        """
        scheduler = self.build_sampler(sampler)
        scheduler.set_timesteps(num_steps)
        x = noise
        for t in scheduler.timesteps:
            t_batch = torch.full((x.shape[0], ), int(t), device=x.device, dtype=torch.long)
            pred = self.denoise(x, t_batch).float()
            x = scheduler.step(pred, t, x, generator=generator).prev_sample
        return x.clamp(-1, 1)

    def _sample_seeded(self, seeds: Sequence[int], num_steps: int, sampler: str) -> Tensor:
        """One sample per seed, in 0..255: each sample's initial noise and step noise come
        from its own generator."""
        shape = (self.in_channels, self.image_size, self.image_size)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        noise = torch.stack([torch.randn(shape, generator=g) for g in gens])
        x = self.sample(noise.to(self.alphas_cumprod.device), num_steps, sampler, gens)
        return self.data_preprocessor.destruct(x)

    def infer(self, num_samples: int = 16, num_steps: int = 50, sampler: str = 'ddim',
              seed: int = 0, batch_size: int = 64) -> Tensor:
        """Generate ``num_samples`` images; returns uint8 RGB, N x C x H x W, deterministic
        for ``seed``."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, num_samples, batch_size):
            seeds = [seed * 1_000_003 + i for i in range(start, min(num_samples,
                                                                   start + batch_size))]
            imgs = self._sample_seeded(seeds, num_steps, sampler)
            out.append(imgs.round().to(torch.uint8).cpu())
        self.train(was_training)
        return torch.cat(out)

    def restart_sample_seeds(self) -> None:
        """The next generative-metric samples start again from index 0."""
        self._num_generated = 0

    def predict(self, data_samples: Optional[list], num_samples: int) -> List[DataSample]:
        """``num_samples`` generated samples as MMagic ``DataSample`` s.

        With data samples (a val/test dataloader), sample ``k`` is seeded by its
        ``sample_idx``, so results do not depend on batching or ranks. Without (MMagic's
        generative-metric samplers), seeds continue a per-model counter, interleaved over
        ranks (rank r of W draws indices r, r + W, r + 2W, ...): distinct samples across the
        batches and ranks of one evaluation, and, when the number of samples is a multiple of
        W, the same set of samples as one process draws. ``restart_sample_seeds`` (called by
        RandomStateHook before each evaluation) makes every evaluation score the same seeds.
        ``fake_img`` is float 0..255 in BGR order, as MMagic's metrics read it.
        """
        if data_samples:
            metas = [s.metainfo for s in data_samples]
            indices = [int(m.get('sample_idx', i)) for i, m in enumerate(metas)]
        else:
            metas = [{} for _ in range(num_samples)]
            rank, world_size = get_dist_info()
            start = self._num_generated
            indices = [i * world_size + rank for i in range(start, start + num_samples)]
            self._num_generated += num_samples
        seeds = [self.sample_seed * 1_000_003 + i for i in indices]
        fake = self._sample_seeded(seeds, self.num_sample_steps, self.sampler)
        outputs = []
        for img, meta in zip(fake[:, [2, 1, 0]], metas):
            sample = DataSample(metainfo=meta)
            sample.set_metainfo(dict(fake_img_channel_order='bgr'))
            sample.fake_img = img
            outputs.append(sample)
        return outputs

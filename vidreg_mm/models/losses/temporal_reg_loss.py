"""The temporal-regularised diffusion loss of docs/method.md."""
import math
import numbers
from typing import Callable, Dict, Optional

import torch
from mmagic.registry import MODELS
from torch import Tensor, nn

from ..objectives import bc

SPACES = ('output', 'x0')
WEIGHTS = ('none', 'snr', 'min_snr')
SIMPLE_WEIGHTS = ('none', 'min_snr')
TIMESTEP_SAMPLINGS = ('uniform', 'logit_normal')
CLIP_PAIRS = ('consecutive', 'all')


@MODELS.register_module()
class TemporalRegLoss(nn.Module):
    r"""Diffusion loss on clips of T frames with a temporal regulariser (docs/method.md).

    A batch is ``x0`` of shape ``B x T x C x H x W``: T frames of one clip per sample (T = 1
    single frames, T = 2 pairs, T >= 3 clips). What the network ``f(x_t, t)`` predicts is
    the model's objective (:mod:`vidreg_mm.models.objectives`, built from its scheduler): it
    draws and noises ``t``, gives the target ``y``, the implied clean frame ``x0_hat`` and
    ``SNR(t)``. The loss is the same math for every objective. For two frames ``a``, ``b``
    of a clip::

        L_simple = mean over frames of s(t) ||f(x_t, t) - y||^2   (T = 2: 1/2 (L_a + L_b))
        R        = w(t) ||(f(x_t^a, t) - f(x_t^b, t)) - (y^a - y^b)||^2     (space='output')
        R        = w(t) ||(x0_hat^a - x0_hat^b) - (x0^a - x0^b)||^2        (space='x0')
        L        = L_simple + lambda * R

    where ``||.||^2`` is the mean over pixels, frame pairs and the batch, ``w(t)`` is 1
    (``'none'``), ``SNR(t)`` (``'snr'``) or ``min(SNR(t), gamma)`` (``'min_snr'``) at the
    first frame's t, and ``s(t)`` is 1 (``simple_weight='none'``) or the objective's
    min-SNR-gamma weighting (``'min_snr'``; DDPM objectives only). T = 1 (the baseline) has
    no pairs: ``R = 0`` and L is the plain loss. Clips of T >= 3 frames compare each frame
    with the next (``clip_pairs='consecutive'``, T - 1 pairs) or every two frames
    (``'all'``, T (T - 1) / 2 pairs).

    The defaults are the shipped recipe's: lambda 0.3, w(t) = 1, output space, one t per
    clip and one noise draw per frame, so that R compares the frames' errors, ``||(f_a -
    f_b) - (eps_a - eps_b)||^2`` for eps-prediction. ``share_noise=True`` (one eps per clip:
    ``x_t^a - x_t^b = sqrt(a_t) (x0^a - x0^b)``, ``y^a - y^b = 0`` for eps) was the default
    before the ablation of docs/results.md chose independent noise.

    Args:
        lambda_reg (float): lambda >= 0 (0 turns the regulariser off). Default: 0.3.
        space (str): where R measures the difference, 'output' or 'x0'. Default: 'output'.
        weight (str): w(t), 'none', 'snr' or 'min_snr'. Default: 'none'.
        min_snr_gamma (float): gamma of 'min_snr'. Default: 5.0.
        share_timestep (bool): one t per clip. Default: True.
        share_noise (bool): one eps per clip (True) or per frame. Default: False.
        lambda_warmup_iters (int): lambda ramps linearly from 0 over these iterations.
        lambda_decay_iters (tuple[int, int], optional): (start, end): lambda decays linearly
            to 0 between these iterations.
        simple_weight (str): s(t) of the plain term, 'none' or 'min_snr' (with
            ``min_snr_gamma``). Default: 'none'.
        timestep_sampling (str): how t is drawn: 'uniform' (over the objective's timesteps)
            or 'logit_normal' (the fraction ``sigmoid(n)`` of the schedule, ``n ~
            N(logit_mean, logit_std^2)``). Default: 'uniform'.
        logit_mean (float): mean of the logit-normal. Default: 0.0.
        logit_std (float): standard deviation of the logit-normal. Default: 1.0.
        clip_pairs (str): the frame pairs of a clip that R compares: 'consecutive' or
            'all'. Default: 'consecutive'.
    """

    def __init__(self,
                 lambda_reg: float = 0.3,
                 space: str = 'output',
                 weight: str = 'none',
                 min_snr_gamma: float = 5.0,
                 share_timestep: bool = True,
                 share_noise: bool = False,
                 lambda_warmup_iters: int = 0,
                 lambda_decay_iters: Optional[tuple] = None,
                 simple_weight: str = 'none',
                 timestep_sampling: str = 'uniform',
                 logit_mean: float = 0.0,
                 logit_std: float = 1.0,
                 clip_pairs: str = 'consecutive'):
        super().__init__()
        for key, value, allowed in (('space', space, SPACES), ('weight', weight, WEIGHTS),
                                    ('simple_weight', simple_weight, SIMPLE_WEIGHTS),
                                    ('timestep_sampling', timestep_sampling,
                                     TIMESTEP_SAMPLINGS), ('clip_pairs', clip_pairs, CLIP_PAIRS)):
            if value not in allowed:
                raise ValueError(f'{key} must be one of {allowed}, got {value!r}')
        for key, value, low, rule in (
                ('lambda_reg', lambda_reg, 0, '>= 0 (0 turns the regulariser off)'),
                ('logit_std', logit_std, None, '> 0'),
                ('logit_mean', logit_mean, -math.inf, 'of any sign'),
                ('min_snr_gamma', min_snr_gamma, None, '> 0'),
                ('lambda_warmup_iters', lambda_warmup_iters, 0, '>= 0')):
            number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and (value > 0 if low is None
                                                         else value >= low)):
                raise ValueError(f'{key} must be a finite number {rule}, got {value!r}')
        decay = lambda_decay_iters
        if decay is not None and not (len(decay) == 2 and 0 <= decay[0] < decay[1]):
            raise ValueError('lambda_decay_iters must be (start, end) with 0 <= start < end, got '
                             f'{lambda_decay_iters}')
        self.lambda_reg = float(lambda_reg)
        self.space, self.weight = space, weight
        self.min_snr_gamma = float(min_snr_gamma)
        self.share_timestep, self.share_noise = share_timestep, share_noise
        self.lambda_warmup_iters = int(lambda_warmup_iters)
        self.lambda_decay_iters = tuple(lambda_decay_iters) if lambda_decay_iters else None
        self.simple_weight, self.timestep_sampling = simple_weight, timestep_sampling
        self.logit_mean, self.logit_std = float(logit_mean), float(logit_std)
        self.clip_pairs = clip_pairs

    def check(self, objective) -> None:
        """Refuse options that the model's objective does not define, naming the config key
        (the model calls this once, when it is built)."""
        if self.simple_weight == 'min_snr' and objective.min_snr_weight is None:
            raise ValueError(
                f'model.loss.simple_weight={self.simple_weight!r} is a DDPM weighting (it is '
                'defined through the eps/x0/v parameterisations); with '
                f'{type(objective.scheduler).__name__} ({type(objective).__name__}) use '
                "simple_weight='none'")

    # -- schedule of lambda ----------------------------------------------------------------------
    def lambda_at(self, iteration: int) -> float:
        """lambda at a training iteration (warm-up and decay applied)."""
        factor = 1.0
        if self.lambda_warmup_iters > 0:
            factor = min(1.0, iteration / self.lambda_warmup_iters)
        if self.lambda_decay_iters is not None:
            start, end = self.lambda_decay_iters
            factor *= min(1.0, max(0.0, (end - iteration) / (end - start)))
        return self.lambda_reg * factor

    # -- noising ---------------------------------------------------------------------------------
    def sample_noise(self, x0: Tensor, objective,
                     generator: Optional[torch.Generator] = None):
        """Timesteps (B, T) of the objective and noise like ``x0`` (B x T x C x H x W), each
        drawn on ``x0``'s device once per clip and shared by its frames, or per frame, as
        configured; t by ``timestep_sampling``."""
        b, t_len = x0.shape[:2]
        per_clip = (b, 1) if self.share_timestep else (b, t_len)
        if self.timestep_sampling == 'uniform':
            t = objective.uniform_timesteps(per_clip, generator, x0.device, x0.dtype)
        else:
            u = torch.sigmoid(self.logit_mean + self.logit_std * torch.randn(
                per_clip, generator=generator, device=x0.device))
            t = objective.timesteps_at(u, x0.dtype)
        shape = (b, 1 if self.share_noise else t_len) + tuple(x0.shape[2:])
        eps = torch.randn(shape, generator=generator, device=x0.device)
        return t.expand(b, t_len), eps.to(x0.dtype).expand_as(x0)

    def weight_of(self, t: Tensor, objective, dtype: torch.dtype) -> Tensor:
        """w(t) of each frame."""
        if self.weight == 'none':
            return torch.ones(t.shape, dtype=dtype, device=t.device)
        snr = objective.snr(t, dtype)
        return snr if self.weight == 'snr' else snr.clamp(max=self.min_snr_gamma)

    def frame_pairs(self, num_frames: int):
        """Indices (first, second) of the frame pairs of a clip that R compares."""
        if self.clip_pairs == 'consecutive' or num_frames == 2:
            return list(range(num_frames - 1)), list(range(1, num_frames))
        pairs = [(i, j) for i in range(num_frames) for j in range(i + 1, num_frames)]
        return [i for i, _ in pairs], [j for _, j in pairs]

    # -- the loss --------------------------------------------------------------------------------
    def terms(self, pred: Tensor, y: Tensor, x0: Tensor, x_t: Tensor, t: Tensor, objective,
              iteration: int = 0) -> Dict[str, Tensor]:
        """Loss terms of B x T clips: prediction, target, clean and noisy frames, and the
        objective's timesteps ``t`` (B x T)."""
        pred = pred.to(x0.dtype)  # e.g. fp16 under AMP: the loss is computed in x0's precision
        err = (pred - y).pow(2)
        if self.simple_weight == 'none':
            loss_simple = err.mean()
        else:  # (the model checked once that the objective defines it: ``check``)
            s_t = objective.min_snr_weight(objective.snr(t, err.dtype), self.min_snr_gamma)
            loss_simple = (bc(s_t) * err).mean()
        if x0.shape[1] > 1:
            if self.space == 'output':
                mine, true = pred, y
            else:
                mine, true = objective.predicted_x0(pred, x_t, t), x0
            first, second = self.frame_pairs(x0.shape[1])
            diff = (mine[:, second] - mine[:, first]) - (true[:, second] - true[:, first])
            w = self.weight_of(t[:, first], objective, diff.dtype)
            reg = (bc(w) * diff.pow(2)).mean()
        else:
            reg = pred.new_zeros(())
        lam = self.lambda_at(iteration)
        return dict(loss_simple=loss_simple, loss_temporal=lam * reg,
                    temporal_reg=reg.detach(), temporal_lambda=pred.new_tensor(lam))

    def forward(self, denoise_fn: Callable[[Tensor, Tensor], Tensor], x0: Tensor, objective,
                iteration: int = 0,
                generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Draw t and eps, noise the clips, run ``denoise_fn`` (ONE network forward over all
        B x T frames) and return the terms; ``objective`` is the model's
        (:mod:`vidreg_mm.models.objectives`).

        ``loss_simple + loss_temporal`` is the loss; ``temporal_reg`` (R) and
        ``temporal_lambda`` are for the log.
        """
        t, eps = self.sample_noise(x0, objective, generator)
        x_t = objective.add_noise(x0, eps, t)
        pred = denoise_fn(x_t, objective.network_timestep(t))
        return self.terms(pred, objective.target(x0, eps, t), x0, x_t, t, objective, iteration)

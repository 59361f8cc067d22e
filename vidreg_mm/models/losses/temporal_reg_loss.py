"""The temporal-regularised diffusion loss of docs/method.md."""
from typing import Callable, Dict, Optional

import torch
from mmagic.registry import MODELS
from torch import Tensor, nn

#: diffusers' names of what a DDPM network predicts (the scheduler's ``prediction_type``)
DDPM_PREDICTION_TYPES = ('epsilon', 'sample', 'v_prediction')
#: and the velocity of flow matching (``FlowMatchingScheduler``)
PREDICTION_TYPES = DDPM_PREDICTION_TYPES + ('flow', )
SPACES = ('output', 'x0')
WEIGHTS = ('none', 'snr', 'min_snr')
SIMPLE_WEIGHTS = ('none', 'min_snr')
TIMESTEP_SAMPLINGS = ('uniform', 'logit_normal')
CLIP_PAIRS = ('consecutive', 'all')
#: flow matching's SNR ((1 - t) / t)^2 is taken at t >= this (it is infinite at t = 0)
FLOW_MIN_T = 1e-3


def _bc(v: Tensor) -> Tensor:
    """(B, T) -> (B, T, 1, 1, 1) for broadcasting over frames."""
    return v[..., None, None, None]


def _flat(fn, *args: Tensor) -> Tensor:
    """Apply a diffusers scheduler function, which takes one batch axis, to B x T clips."""
    lead = args[0].shape[:2]
    return fn(*(a.flatten(0, 1) for a in args)).view(*lead, *args[0].shape[2:])


@MODELS.register_module()
class TemporalRegLoss(nn.Module):
    r"""Diffusion loss on clips of T frames with a temporal regulariser.

    A batch is ``x0`` of shape ``B x T x C x H x W``: T frames of one clip per sample (T = 1
    single frames, T = 2 pairs, T >= 3 clips). The objective is the scheduler's that the
    model passes in, read from its ``config.prediction_type``:

    - DDPM (a diffusers scheduler: ``add_noise``, ``get_velocity``, ``alphas_cumprod``):
      integer ``t``, ``x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps``, and the network ``f(x_t, t)``
      predicts ``y``: eps (``'epsilon'``), x0 (``'sample'``) or ``v = sqrt(a_t) eps -
      sqrt(1 - a_t) x0`` (``'v_prediction'``); ``SNR(t) = a_t / (1 - a_t)``.
    - flow matching (:class:`FlowMatchingScheduler`, ``'flow'``): ``t`` in [0, 1], ``x_t =
      (1 - t) x0 + t eps``, ``y = v = eps - x0``, ``x0_hat = x_t - t f``, ``SNR(t) = ((1 - t)
      / t)^2`` (t >= 1e-3); the network is called with ``t * num_train_timesteps``.

    For two frames ``a``, ``b`` of a clip::

        L_simple = mean over frames of s(t) ||f(x_t, t) - y||^2   (T = 2: 1/2 (L_a + L_b))
        R        = w(t) ||(f(x_t^a, t) - f(x_t^b, t)) - (y^a - y^b)||^2     (space='output')
        R        = w(t) ||(x0_hat^a - x0_hat^b) - (x0^a - x0^b)||^2        (space='x0')
        L        = L_simple + lambda * R

    where ``x0_hat`` is the clean frame the prediction implies, ``||.||^2`` the mean over
    pixels, frame pairs and the batch, and ``w(t)`` is 1 (``'none'``), ``SNR(t)``
    (``'snr'``) or ``min(SNR(t), gamma)`` (``'min_snr'``) at the first frame's t. ``s(t)``
    weighs the plain term: 1 (``simple_weight='none'``), or DDPM's min-SNR-gamma weighting
    (``'min_snr'``: ``min(SNR, gamma) / SNR`` for eps, ``min(SNR, gamma)`` for x0,
    ``min(SNR, gamma) / (SNR + 1)`` for v). With shared ``t`` and ``eps`` and eps-prediction,
    ``y^a - y^b = 0`` and x0-space R equals output-space R with ``w(t) = (1 - a_t) / a_t``;
    for flow matching ``y^a - y^b = -(x0^a - x0^b)`` and x0-space R is output-space R times
    ``t^2``. T = 1 (the baseline) has no pairs: ``R = 0`` and L is the plain loss. Clips of
    T >= 3 frames compare each frame with the next (``clip_pairs='consecutive'``, T - 1
    pairs) or every two frames (``'all'``, T (T - 1) / 2 pairs).

    Args:
        lambda_reg (float): lambda >= 0. Default: 1.0.
        space (str): where R measures the difference, 'output' or 'x0'. Default: 'output'.
        weight (str): w(t), 'none', 'snr' or 'min_snr'. Default: 'none'.
        min_snr_gamma (float): gamma of 'min_snr'. Default: 5.0.
        share_timestep (bool): one t per clip. Default: True.
        share_noise (bool): one eps per clip. Default: True.
        lambda_warmup_iters (int): lambda ramps linearly from 0 over these iterations.
        lambda_decay_iters (tuple[int, int], optional): (start, end): lambda decays linearly
            to 0 between these iterations.
        simple_weight (str): s(t) of the plain term, 'none' or 'min_snr' (DDPM only, with
            ``min_snr_gamma``). Default: 'none'.
        timestep_sampling (str): how t is drawn: 'uniform' (DDPM: integers 0..N-1; flow:
            [0, 1)) or 'logit_normal' (``sigmoid(n)``, ``n ~ N(logit_mean, logit_std^2)``;
            for DDPM scaled to an integer step). Default: 'uniform'.
        logit_mean (float): mean of the logit-normal. Default: 0.0.
        logit_std (float): standard deviation of the logit-normal. Default: 1.0.
        clip_pairs (str): the frame pairs of a clip that R compares: 'consecutive' or
            'all'. Default: 'consecutive'.
    """

    def __init__(self,
                 lambda_reg: float = 1.0,
                 space: str = 'output',
                 weight: str = 'none',
                 min_snr_gamma: float = 5.0,
                 share_timestep: bool = True,
                 share_noise: bool = True,
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
        if not lambda_reg >= 0:
            raise ValueError(f'lambda_reg must be >= 0 (0 turns the regulariser off), got '
                             f'{lambda_reg!r}')
        if not logit_std > 0:
            raise ValueError(f'logit_std must be > 0, got {logit_std!r}')
        if min_snr_gamma <= 0:
            raise ValueError(f'min_snr_gamma must be > 0, got {min_snr_gamma}')
        if lambda_warmup_iters < 0:
            raise ValueError(f'lambda_warmup_iters must be >= 0, got {lambda_warmup_iters}')
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

    def check_objective(self, prediction_type: str) -> None:
        """Refuse options that do not apply to the model's objective (the scheduler's
        ``prediction_type``), naming the config key."""
        if prediction_type == 'flow' and self.simple_weight != 'none':
            raise ValueError(
                f'model.loss.simple_weight={self.simple_weight!r} is a DDPM weighting (it is '
                "defined through the eps/x0/v parameterisations); with flow matching "
                "(FlowMatchingScheduler) use simple_weight='none'")

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
    def sample_timesteps(self, shape, num_timesteps: Optional[int],
                         generator: Optional[torch.Generator] = None) -> Tensor:
        """Timesteps of ``shape`` drawn by ``timestep_sampling``: integers in
        [0, num_timesteps) (DDPM), or times in [0, 1) when ``num_timesteps`` is None (flow)."""
        if self.timestep_sampling == 'uniform':
            if num_timesteps is None:
                return torch.rand(shape, generator=generator, device='cpu')
            return torch.randint(0, num_timesteps, shape, generator=generator, device='cpu')
        u = torch.sigmoid(self.logit_mean + self.logit_std * torch.randn(
            shape, generator=generator, device='cpu'))
        if num_timesteps is None:
            return u
        return (u * num_timesteps).long().clamp(max=num_timesteps - 1)

    def sample_noise(self, x0: Tensor, num_timesteps: Optional[int],
                     generator: Optional[torch.Generator] = None):
        """Timesteps (B, T) and noise like ``x0`` (B x T x C x H x W), each drawn once per
        clip and shared by its frames, or per frame, as configured. ``num_timesteps`` None:
        continuous times in [0, 1] (flow matching)."""
        b, t_len = x0.shape[:2]
        per_clip = (b, 1) if self.share_timestep else (b, t_len)
        t = self.sample_timesteps(per_clip, num_timesteps, generator)
        shape = (b, 1 if self.share_noise else t_len) + tuple(x0.shape[2:])
        eps = torch.randn(shape, generator=generator, device='cpu')
        return (t.to(x0.device).expand(b, t_len),
                eps.to(x0.device, x0.dtype).expand_as(x0))

    @staticmethod
    def target(scheduler, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """y for the scheduler's prediction type (flow: ``get_velocity`` = eps - x0)."""
        kind = scheduler.config.prediction_type
        if kind == 'epsilon':
            return eps
        if kind == 'sample':
            return x0
        return _flat(scheduler.get_velocity, x0, eps, t)

    @staticmethod
    def predicted_x0(prediction_type: str, pred: Tensor, x_t: Tensor, a_t: Tensor) -> Tensor:
        """The clean frame implied by a prediction. ``a_t`` (B x T) is the noise level:
        alpha-bar for DDPM, the time t in [0, 1] for flow matching."""
        if prediction_type == 'epsilon':
            return (x_t - _bc((1 - a_t).sqrt()) * pred) / _bc(a_t.sqrt())
        if prediction_type == 'sample':
            return pred
        if prediction_type == 'flow':
            return x_t - _bc(a_t) * pred
        return _bc(a_t.sqrt()) * x_t - _bc((1 - a_t).sqrt()) * pred

    @staticmethod
    def snr(a_t: Tensor, prediction_type: str = 'epsilon') -> Tensor:
        """Signal-to-noise ratio of each frame's noise level (alpha-bar, or flow's t)."""
        if prediction_type == 'flow':
            t = a_t.clamp(min=FLOW_MIN_T)
            return ((1 - t) / t).pow(2)
        return a_t / (1 - a_t)

    def weight_of(self, a_t: Tensor, prediction_type: str = 'epsilon') -> Tensor:
        """w(t) of each frame."""
        if self.weight == 'none':
            return torch.ones_like(a_t)
        snr = self.snr(a_t, prediction_type)
        return snr if self.weight == 'snr' else snr.clamp(max=self.min_snr_gamma)

    def simple_weight_of(self, a_t: Tensor, prediction_type: str) -> Optional[Tensor]:
        """s(t) of each frame (None: 1)."""
        if self.simple_weight == 'none':
            return None
        self.check_objective(prediction_type)
        snr = self.snr(a_t, prediction_type)
        clipped = snr.clamp(max=self.min_snr_gamma)
        if prediction_type == 'epsilon':
            return clipped / snr
        if prediction_type == 'sample':
            return clipped
        return clipped / (snr + 1)

    def frame_pairs(self, num_frames: int):
        """Indices (first, second) of the frame pairs of a clip that R compares."""
        if self.clip_pairs == 'consecutive' or num_frames == 2:
            return list(range(num_frames - 1)), list(range(1, num_frames))
        pairs = [(i, j) for i in range(num_frames) for j in range(i + 1, num_frames)]
        return [i for i, _ in pairs], [j for _, j in pairs]

    # -- the loss --------------------------------------------------------------------------------
    def terms(self, pred: Tensor, y: Tensor, x0: Tensor, x_t: Tensor, a_t: Tensor,
              prediction_type: str, iteration: int = 0) -> Dict[str, Tensor]:
        """Loss terms of B x T clips: prediction, target, clean and noisy frames; ``a_t``
        is B x T."""
        pred = pred.to(x0.dtype)  # e.g. fp16 under AMP: the loss is computed in x0's precision
        err = (pred - y).pow(2)
        s_t = self.simple_weight_of(a_t, prediction_type)
        loss_simple = err.mean() if s_t is None else (_bc(s_t.to(err.dtype)) * err).mean()
        if x0.shape[1] > 1:
            if self.space == 'output':
                mine, true = pred, y
            else:
                mine, true = self.predicted_x0(prediction_type, pred, x_t, a_t), x0
            first, second = self.frame_pairs(x0.shape[1])
            diff = (mine[:, second] - mine[:, first]) - (true[:, second] - true[:, first])
            w = self.weight_of(a_t[:, first], prediction_type)
            reg = (_bc(w) * diff.pow(2)).mean()
        else:
            reg = pred.new_zeros(())
        lam = self.lambda_at(iteration)
        return dict(loss_simple=loss_simple, loss_temporal=lam * reg,
                    temporal_reg=reg.detach(), temporal_lambda=pred.new_tensor(lam))

    def forward(self, denoise_fn: Callable[[Tensor, Tensor], Tensor], x0: Tensor, scheduler,
                iteration: int = 0,
                generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Draw t and eps, noise the clips with ``scheduler``, run ``denoise_fn`` (ONE network
        forward over all B x T frames) and return the terms.

        ``loss_simple + loss_temporal`` is the loss; ``temporal_reg`` (R) and
        ``temporal_lambda`` are for the log.
        """
        kind = scheduler.config.prediction_type
        flow = kind == 'flow'
        t, eps = self.sample_noise(x0, None if flow else scheduler.config.num_train_timesteps,
                                   generator)
        if flow:
            t = t.to(x0.dtype)
        x_t = _flat(scheduler.add_noise, x0, eps, t)
        if flow:  # the noise level is t itself; the network sees t * num_train_timesteps
            level, net_t = t, scheduler.network_timestep(t)
        else:
            level, net_t = scheduler.alphas_cumprod.to(x0.device)[t].to(x0.dtype), t
        return self.terms(denoise_fn(x_t, net_t), self.target(scheduler, x0, eps, t), x0, x_t,
                          level, kind, iteration)

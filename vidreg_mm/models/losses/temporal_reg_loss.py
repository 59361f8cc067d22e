"""The temporal-regularised diffusion loss of docs/method.md."""
from typing import Callable, Dict, Optional

import torch
from mmagic.registry import MODELS
from torch import Tensor, nn

#: diffusers' names of what the network predicts (the scheduler's ``prediction_type``)
PREDICTION_TYPES = ('epsilon', 'sample', 'v_prediction')
SPACES = ('output', 'x0')
WEIGHTS = ('none', 'snr', 'min_snr')


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
    single frames, T = 2 pairs). The schedule and the prediction type are the diffusers
    scheduler's that the model passes in (``add_noise``, ``get_velocity``,
    ``alphas_cumprod``, ``config.prediction_type``): ``x_t = sqrt(a_t) x0 + sqrt(1 - a_t)
    eps``, and the network ``f(x_t, t)`` predicts ``y``: eps (``'epsilon'``), x0
    (``'sample'``) or ``v = sqrt(a_t) eps - sqrt(1 - a_t) x0`` (``'v_prediction'``). For
    consecutive frames ``a``, ``b`` of a clip::

        L_simple = mean over frames of ||f(x_t, t) - y||^2   (T = 2: 1/2 (L_a + L_b))
        R        = w(t) ||(f(x_t^a, t) - f(x_t^b, t)) - (y^a - y^b)||^2     (space='output')
        R        = w(t) ||(x0_hat^a - x0_hat^b) - (x0^a - x0^b)||^2        (space='x0')
        L        = L_simple + lambda * R

    where ``x0_hat`` is the clean frame the prediction implies, ``||.||^2`` the mean over
    pixels, frame pairs and the batch, and ``w(t)`` is 1 (``'none'``), ``SNR(t) = a_t / (1 -
    a_t)`` (``'snr'``) or ``min(SNR(t), gamma)`` (``'min_snr'``) at the earlier frame's t.
    With shared ``t`` and ``eps`` and eps-prediction, ``y^a - y^b = 0`` and x0-space R equals
    output-space R with ``w(t) = (1 - a_t) / a_t``. T = 1 (the baseline) has no pairs:
    ``R = 0`` and L is the DDPM loss. Clips of T > 2 frames compare each frame with the next.

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
    """

    def __init__(self,
                 lambda_reg: float = 1.0,
                 space: str = 'output',
                 weight: str = 'none',
                 min_snr_gamma: float = 5.0,
                 share_timestep: bool = True,
                 share_noise: bool = True,
                 lambda_warmup_iters: int = 0,
                 lambda_decay_iters: Optional[tuple] = None):
        super().__init__()
        for key, value, allowed in (('space', space, SPACES), ('weight', weight, WEIGHTS)):
            if value not in allowed:
                raise ValueError(f'{key} must be one of {allowed}, got {value!r}')
        if not lambda_reg >= 0:
            raise ValueError(f'lambda_reg must be >= 0 (0 turns the regulariser off), got '
                             f'{lambda_reg!r}')
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
    def sample_noise(self, x0: Tensor, num_timesteps: int,
                     generator: Optional[torch.Generator] = None):
        """Timesteps (B, T) and noise like ``x0`` (B x T x C x H x W), each drawn once per
        clip and shared by its frames, or per frame, as configured."""
        b, t_len = x0.shape[:2]
        per_clip = (b, 1) if self.share_timestep else (b, t_len)
        t = torch.randint(0, num_timesteps, per_clip, generator=generator, device='cpu')
        shape = (b, 1 if self.share_noise else t_len) + tuple(x0.shape[2:])
        eps = torch.randn(shape, generator=generator, device='cpu')
        return (t.to(x0.device).expand(b, t_len),
                eps.to(x0.device, x0.dtype).expand_as(x0))

    @staticmethod
    def target(scheduler, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """y for the scheduler's prediction type."""
        kind = scheduler.config.prediction_type
        if kind == 'epsilon':
            return eps
        if kind == 'sample':
            return x0
        return _flat(scheduler.get_velocity, x0, eps, t)

    @staticmethod
    def predicted_x0(prediction_type: str, pred: Tensor, x_t: Tensor, a_t: Tensor) -> Tensor:
        """The clean frame implied by a prediction (``a_t`` of shape B x T)."""
        if prediction_type == 'epsilon':
            return (x_t - _bc((1 - a_t).sqrt()) * pred) / _bc(a_t.sqrt())
        if prediction_type == 'sample':
            return pred
        return _bc(a_t.sqrt()) * x_t - _bc((1 - a_t).sqrt()) * pred

    def weight_of(self, a_t: Tensor) -> Tensor:
        """w(t) of each frame."""
        if self.weight == 'none':
            return torch.ones_like(a_t)
        snr = a_t / (1 - a_t)
        return snr if self.weight == 'snr' else snr.clamp(max=self.min_snr_gamma)

    # -- the loss --------------------------------------------------------------------------------
    def terms(self, pred: Tensor, y: Tensor, x0: Tensor, x_t: Tensor, a_t: Tensor,
              prediction_type: str, iteration: int = 0) -> Dict[str, Tensor]:
        """Loss terms of B x T clips: prediction, target, clean and noisy frames; ``a_t``
        is B x T."""
        pred = pred.to(x0.dtype)  # e.g. fp16 under AMP: the loss is computed in x0's precision
        loss_simple = (pred - y).pow(2).mean()
        if x0.shape[1] > 1:
            if self.space == 'output':
                mine, true = pred, y
            else:
                mine, true = self.predicted_x0(prediction_type, pred, x_t, a_t), x0
            diff = (mine[:, 1:] - mine[:, :-1]) - (true[:, 1:] - true[:, :-1])
            reg = (_bc(self.weight_of(a_t[:, :-1])) * diff.pow(2)).mean()
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
        t, eps = self.sample_noise(x0, scheduler.config.num_train_timesteps, generator)
        x_t = _flat(scheduler.add_noise, x0, eps, t)
        a_t = scheduler.alphas_cumprod.to(x0.device)[t].to(x0.dtype)
        return self.terms(denoise_fn(x_t, t), self.target(scheduler, x0, eps, t), x0, x_t,
                          a_t, scheduler.config.prediction_type, iteration)

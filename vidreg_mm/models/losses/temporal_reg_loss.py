"""The temporal-regularised diffusion loss of docs/method.md."""
from typing import Callable, Dict, Optional

import torch
from mmagic.registry import MODELS
from torch import Tensor, nn

PREDICTION_TYPES = ('eps', 'x0', 'v')
SPACES = ('output', 'x0')
WEIGHTS = ('none', 'snr', 'min_snr')


def _bc(v: Tensor) -> Tensor:
    """(N,) -> (N, 1, 1, 1) for broadcasting over images."""
    return v.view(-1, 1, 1, 1)


@MODELS.register_module()
class TemporalRegLoss(nn.Module):
    r"""Diffusion loss on frame pairs with a temporal regulariser.

    DDPM with cumulative schedule ``a_t``. A clean frame ``x0`` is noised as
    ``x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps``; the network ``f(x_t, t)`` predicts ``y``:
    ``eps``, ``x0`` or ``v = sqrt(a_t) eps - sqrt(1 - a_t) x0``. For a pair ``(a, b)`` of
    frames of one clip::

        L_simple = 1/2 (||f(x_t^a, t) - y^a||^2 + ||f(x_t^b, t) - y^b||^2)
        R        = w(t) ||(f(x_t^a, t) - f(x_t^b, t)) - (y^a - y^b)||^2     (space='output')
        R        = w(t) ||(x0_hat^a - x0_hat^b) - (x0^a - x0^b)||^2        (space='x0')
        L        = L_simple + lambda * R

    where ``x0_hat`` is the clean frame the prediction implies, and ``||.||^2`` is the mean
    over pixels and the batch. ``w(t)`` is 1 (``'none'``), ``SNR(t) = a_t / (1 - a_t)``
    (``'snr'``) or ``min(SNR(t), gamma)`` (``'min_snr'``). With shared ``t`` and ``eps`` and
    eps-prediction, ``y^a - y^b = 0`` and x0-space R equals output-space R with
    ``w(t) = (1 - a_t) / a_t``.

    Single-frame batches (the baseline) have no pairs: ``R = 0`` and L is the DDPM loss.

    Args:
        lambda_reg (float): lambda >= 0. Default: 1.0.
        prediction_type (str): 'eps', 'x0' or 'v'. Default: 'eps'.
        space (str): where R measures the difference, 'output' or 'x0'. Default: 'output'.
        weight (str): w(t), 'none', 'snr' or 'min_snr'. Default: 'none'.
        min_snr_gamma (float): gamma of 'min_snr'. Default: 5.0.
        share_timestep (bool): one t per pair. Default: True.
        share_noise (bool): one eps per pair. Default: True.
        lambda_warmup_iters (int): lambda ramps linearly from 0 over these iterations.
        lambda_decay_iters (tuple[int, int], optional): (start, end): lambda decays linearly
            to 0 between these iterations.
    """

    def __init__(self,
                 lambda_reg: float = 1.0,
                 prediction_type: str = 'eps',
                 space: str = 'output',
                 weight: str = 'none',
                 min_snr_gamma: float = 5.0,
                 share_timestep: bool = True,
                 share_noise: bool = True,
                 lambda_warmup_iters: int = 0,
                 lambda_decay_iters: Optional[tuple] = None):
        super().__init__()
        for key, value, allowed in (('prediction_type', prediction_type, PREDICTION_TYPES),
                                    ('space', space, SPACES), ('weight', weight, WEIGHTS)):
            if value not in allowed:
                raise ValueError(f'{key} must be one of {allowed}, got {value!r}')
        if not lambda_reg >= 0:
            raise ValueError(f'lambda_reg must be >= 0, got {lambda_reg}')
        if min_snr_gamma <= 0:
            raise ValueError(f'min_snr_gamma must be > 0, got {min_snr_gamma}')
        if lambda_warmup_iters < 0:
            raise ValueError(f'lambda_warmup_iters must be >= 0, got {lambda_warmup_iters}')
        if lambda_decay_iters is not None and not (
                len(lambda_decay_iters) == 2 and 0 <= lambda_decay_iters[0] < lambda_decay_iters[1]):
            raise ValueError('lambda_decay_iters must be (start, end) with 0 <= start < end, got '
                             f'{lambda_decay_iters}')
        self.lambda_reg = float(lambda_reg)
        self.prediction_type, self.space, self.weight = prediction_type, space, weight
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
    def sample_noise(self, x0: Tensor, num_frames: int, num_timesteps: int,
                     generator: Optional[torch.Generator] = None):
        """Timesteps (N,) and noise like ``x0`` (N = num_frames * B, frame-major), shared
        within a pair as configured."""
        n = x0.shape[0]
        b = n // num_frames
        draws_t = b if self.share_timestep else n
        t = torch.randint(0, num_timesteps, (draws_t, ), generator=generator, device='cpu')
        t = t.to(x0.device)
        if self.share_timestep:
            t = t.repeat(num_frames)
        shape = (b if self.share_noise else n, ) + tuple(x0.shape[1:])
        eps = torch.randn(shape, generator=generator, device='cpu').to(x0.device, x0.dtype)
        if self.share_noise:
            eps = eps.repeat(num_frames, 1, 1, 1)
        return t, eps

    @staticmethod
    def q_sample(x0: Tensor, eps: Tensor, a_t: Tensor) -> Tensor:
        """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps."""
        return _bc(a_t.sqrt()) * x0 + _bc((1 - a_t).sqrt()) * eps

    def target(self, x0: Tensor, eps: Tensor, a_t: Tensor) -> Tensor:
        """y for the prediction type."""
        if self.prediction_type == 'eps':
            return eps
        if self.prediction_type == 'x0':
            return x0
        return _bc(a_t.sqrt()) * eps - _bc((1 - a_t).sqrt()) * x0

    def predicted_x0(self, pred: Tensor, x_t: Tensor, a_t: Tensor) -> Tensor:
        """The clean frame implied by a prediction."""
        if self.prediction_type == 'eps':
            return (x_t - _bc((1 - a_t).sqrt()) * pred) / _bc(a_t.sqrt())
        if self.prediction_type == 'x0':
            return pred
        return _bc(a_t.sqrt()) * x_t - _bc((1 - a_t).sqrt()) * pred

    def weight_of(self, a_t: Tensor) -> Tensor:
        """w(t) per frame."""
        if self.weight == 'none':
            return torch.ones_like(a_t)
        snr = a_t / (1 - a_t)
        return snr if self.weight == 'snr' else snr.clamp(max=self.min_snr_gamma)

    # -- the loss --------------------------------------------------------------------------------
    def terms(self, pred: Tensor, x0: Tensor, eps: Tensor, x_t: Tensor, a_t: Tensor,
              num_frames: int, iteration: int = 0) -> Dict[str, Tensor]:
        """Loss terms for a frame-major batch: frames ``k`` and ``B + k`` form pair ``k``."""
        pred = pred.to(x0.dtype)  # e.g. fp16 under AMP: the loss is computed in x0's precision
        y = self.target(x0, eps, a_t)
        loss_simple = (pred - y).pow(2).mean()
        lam = self.lambda_at(iteration)
        if num_frames == 2:
            b = x0.shape[0] // 2
            if self.space == 'output':
                diff = (pred[:b] - pred[b:]) - (y[:b] - y[b:])
            else:
                x0_hat = self.predicted_x0(pred, x_t, a_t)
                diff = (x0_hat[:b] - x0_hat[b:]) - (x0[:b] - x0[b:])
            w = self.weight_of(a_t[:b])  # a_t is shared or, if not, the anchor frame's
            reg = (_bc(w) * diff.pow(2)).mean()
        elif num_frames == 1:
            reg = pred.new_zeros(())
        else:
            raise ValueError(f'samples must hold 1 frame or a pair, got {num_frames} frames')
        return dict(loss_simple=loss_simple, loss_temporal=lam * reg,
                    temporal_reg=reg.detach(), temporal_lambda=pred.new_tensor(lam))

    def forward(self, denoise_fn: Callable[[Tensor, Tensor], Tensor], x0: Tensor,
                num_frames: int, alphas_cumprod: Tensor, iteration: int = 0,
                generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Draw t and eps, noise the frames, run ONE forward over all of them, return terms.

        ``loss_simple + loss_temporal`` is the loss; ``temporal_reg`` (R) and
        ``temporal_lambda`` are for the log.
        """
        t, eps = self.sample_noise(x0, num_frames, len(alphas_cumprod), generator)
        a_t = alphas_cumprod[t].to(x0.dtype)
        x_t = self.q_sample(x0, eps, a_t)
        return self.terms(denoise_fn(x_t, t), x0, eps, x_t, a_t, num_frames, iteration)

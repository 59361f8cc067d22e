"""Variance of mini-batch gradients at fixed parameters (docs/method.md)."""
from typing import Callable, Dict, Iterable, Optional, Sequence

import torch
from torch import Tensor


def gradient_variance(loss_fn: Callable[[object], Tensor], batches: Iterable,
                      params: Sequence[Tensor]) -> Dict[str, float]:
    """Unbiased estimate of E||g_i - E g||^2 over mini-batches, at fixed ``params``.

    ``g_i`` is the gradient of ``loss_fn(batch_i)`` with respect to ``params`` (flattened);
    the estimate is ``sum_i ||g_i - mean_j g_j||^2 / (K - 1)`` over the K batches. Also
    returns ``grad_sq_norm`` = ||mean_j g_j||^2, the squared norm of the mean gradient, and
    ``noise_to_signal`` (:func:`noise_to_signal`), which does not change when the loss is
    scaled. Parameter ``.grad`` fields are not touched.
    """
    params = [p for p in params if p.requires_grad]
    grads = []
    for batch in batches:
        g = torch.autograd.grad(loss_fn(batch), params, allow_unused=True)
        grads.append(torch.cat([(gi if gi is not None else torch.zeros_like(p)).flatten()
                                for gi, p in zip(g, params)]).double())
    if len(grads) < 2:
        raise ValueError(f'gradient variance needs at least 2 mini-batches, got {len(grads)}')
    g = torch.stack(grads)
    mean = g.mean(0)
    variance = float((g - mean).pow(2).sum() / (len(grads) - 1))
    sq_norm = float(mean.pow(2).sum())
    return dict(grad_variance=variance, grad_sq_norm=sq_norm,
                noise_to_signal=noise_to_signal(variance, sq_norm, len(grads)))


def noise_to_signal(grad_variance: float, grad_sq_norm: float,
                    num_batches: int) -> Optional[float]:
    """E||g_i - E g||^2 / ||E g||^2: the gradient variance relative to the squared norm of the
    expected gradient, which scaling the loss by a constant leaves unchanged (the raw variance
    scales with its square). ||E g||^2 is estimated without bias as ``grad_sq_norm -
    grad_variance / num_batches`` (the squared norm of a mean of K mini-batch gradients
    exceeds it by variance / K); None where that estimate is not positive (the mean gradient
    is lost in the noise of K batches)."""
    signal = grad_sq_norm - grad_variance / num_batches
    return grad_variance / signal if signal > 0 else None


def model_loss(model) -> Callable[[dict], Tensor]:
    """The training loss of an MMEngine model for one data batch: its ``train_step``'s
    (preprocess, ``forward(mode='loss')``, ``parse_losses``) without the update."""

    def loss_fn(batch):
        data = model.data_preprocessor(batch, True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        return loss

    return loss_fn

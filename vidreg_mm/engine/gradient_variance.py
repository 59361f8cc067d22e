"""Variance of mini-batch gradients at fixed parameters (docs/method.md)."""
from typing import Callable, Dict, Iterable, Sequence

import torch
from torch import Tensor


def gradient_variance(loss_fn: Callable[[object], Tensor], batches: Iterable,
                      params: Sequence[Tensor]) -> Dict[str, float]:
    """Unbiased estimate of E||g_i - E g||^2 over mini-batches, at fixed ``params``.

    ``g_i`` is the gradient of ``loss_fn(batch_i)`` with respect to ``params`` (flattened);
    the estimate is ``sum_i ||g_i - mean_j g_j||^2 / (K - 1)`` over the K batches. Also
    returns ``grad_sq_norm`` = ||mean_j g_j||^2, the squared norm of the mean gradient.
    Parameter ``.grad`` fields are not touched.
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
    return dict(grad_variance=float((g - mean).pow(2).sum() / (len(grads) - 1)),
                grad_sq_norm=float(mean.pow(2).sum()))


def model_loss(model) -> Callable[[dict], Tensor]:
    """The training loss of an MMEngine model for one data batch (as its train_step sums it)."""

    def loss_fn(batch):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        return sum(v for k, v in losses.items() if 'loss' in k)

    return loss_fn

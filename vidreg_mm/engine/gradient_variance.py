"""Variance of mini-batch gradients at fixed parameters (docs/method.md)."""
import random
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Sequence

import numpy as np
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
                grad_sq_norm=float(mean.pow(2).sum()), num_batches=len(grads))


def model_loss(model) -> Callable[[dict], Tensor]:
    """The training loss of an MMEngine model for one data batch (as its train_step sums it)."""

    def loss_fn(batch):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        return sum(v for k, v in losses.items() if 'loss' in k)

    return loss_fn


def rng_state(host_streams: bool = True) -> dict:
    """torch's CPU generator, every CUDA device's (where CUDA is available) and, with
    ``host_streams``, Python's and NumPy's global generators."""
    state = dict(torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    if host_streams:
        state.update(python=random.getstate(), numpy=np.random.get_state())
    return state


def set_rng_state(state: dict) -> None:
    """Restore the generators held in ``state`` (from :func:`rng_state`)."""
    torch.set_rng_state(state['torch'])
    if state.get('cuda') is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    if 'python' in state:
        random.setstate(state['python'])
    if 'numpy' in state:
        np.random.set_state(state['numpy'])


@contextmanager
def preserved_rng_state():
    """Leave Python's, NumPy's and torch's generators as they were: measuring must not change
    the training run's random stream."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)

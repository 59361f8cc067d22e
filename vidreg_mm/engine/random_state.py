"""Snapshots of the random generators: for resume (RandomStateHook) and for measurements
that must not change a training run's random stream."""
import random
from contextlib import contextmanager

import numpy as np
import torch


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

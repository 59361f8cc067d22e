"""The one place that reaches into MMEngine beyond its public API.

Everything here is checked against the pinned MMEngine (0.10.7) by
tests/test_registration.py, so that an upgrade that moves one of these internals fails there,
by name, rather than somewhere in a run:

- a runner's ``_load_from`` and ``_resume`` (what ``load_from`` / ``--resume`` asked for);
- ``CheckpointLoader._schemes`` (the loader of local paths, to restore it after a run);
- ``OptimWrapper._inner_count`` (the gradient-accumulation window's position);
- registering the file backend ``'atomic_local'`` (done once, when
  :mod:`.checkpoint_io` is imported, like a module in a registry: it changes no behaviour
  of MMEngine's own backends).
"""
from typing import Callable, Optional

from mmengine.fileio import register_backend
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model itself, without MMEngine's DDP / FSDP wrapper (``runner.model`` unwrapped)."""
    return model.module if is_model_wrapper(model) else model


def runner_load_from(runner) -> Optional[str]:
    """The checkpoint the runner loads before it starts (``load_from``, or the path of
    ``--resume PATH``), or None."""
    return getattr(runner, '_load_from', None)


def runner_resumes(runner) -> bool:
    """Whether the runner resumes a run (``--resume``)."""
    return bool(getattr(runner, '_resume', False))


def local_checkpoint_loader() -> Optional[Callable]:
    """MMEngine's loader of local checkpoint paths (prefix ``''``) now registered."""
    return CheckpointLoader._schemes.get('')


def advance_accumulation_window(optim_wrapper) -> None:
    """Move an optim wrapper's accumulation window on by one step without accumulating
    (a skipped update)."""
    optim_wrapper._inner_count += 1


def register_atomic_backend(backend: type) -> None:
    """Register ``backend`` as MMEngine's file backend ``'atomic_local'`` (configs select it
    in ``default_hooks.checkpoint.backend_args``)."""
    register_backend('atomic_local', backend, force=True)

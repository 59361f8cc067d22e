"""Optimizer wrappers that stop, or skip the step, when the training loss is not finite."""
import torch
from mmagic.registry import OPTIM_WRAPPERS
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import distributed as dist

from .mmengine_compat import advance_accumulation_window

NONFINITE_LOSS_ACTIONS = ('stop', 'skip')
#: the AMP variant of each wrapper type, for ``tools/train.py --amp``
AMP_WRAPPERS = {'OptimWrapper': 'AmpOptimWrapper',
                'FiniteLossOptimWrapper': 'FiniteLossAmpOptimWrapper'}


def nonfinite_anywhere(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is NaN or infinite on this rank or on any other (ranks agree)."""
    bad = (~torch.isfinite(loss.detach())).any().to(torch.int32).reshape(1)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(bad, op=dist.ReduceOp.MAX)
    return bool(bad.item())


class FiniteLossMixin:
    """Checks the loss before backward, on every rank together (one rank's NaN stops or
    skips all). ``nonfinite_loss='stop'`` raises ``FloatingPointError`` naming the iteration
    before anything is applied (the last checkpoint is intact); ``'skip'`` warns and skips
    the step: no backward, no optimizer step, so parameters, moments, step counts and the
    AMP loss scale stay exactly as they were. The number of skipped steps is logged as
    ``skipped_steps`` (kept in the message hub, so it survives a resume). With gradient
    accumulation a skip drops the whole accumulation window."""

    def __init__(self, *args, nonfinite_loss: str = 'stop', **kwargs):
        if nonfinite_loss not in NONFINITE_LOSS_ACTIONS:
            raise ValueError(f'optim_wrapper.nonfinite_loss must be one of '
                             f'{NONFINITE_LOSS_ACTIONS}, got {nonfinite_loss!r}')
        super().__init__(*args, **kwargs)
        self.nonfinite_loss = nonfinite_loss
        self._window_skipped = False

    @property
    def skipped_steps(self) -> int:
        buffer = self.message_hub.log_scalars.get('train/skipped_steps')
        return int(buffer.current()) if buffer is not None else 0

    def update_params(self, loss: torch.Tensor, step_kwargs=None, zero_kwargs=None) -> None:
        if not nonfinite_anywhere(loss):
            if not self._window_skipped:
                return super().update_params(loss, step_kwargs, zero_kwargs)
        else:
            self._skip(loss)
        advance_accumulation_window(self)  # nothing is accumulated
        if self.should_update():
            self.zero_grad(**(zero_kwargs or {}))
            self._window_skipped = False

    def _skip(self, loss: torch.Tensor) -> None:
        iteration = self.message_hub.get_info('iter', 0) + 1
        here = not bool(torch.isfinite(loss.detach()).all())
        what = (f'non-finite training loss at iteration {iteration} '
                + (f'(loss={float(loss.detach().sum()):.6g})' if here else 'on another rank'))
        if self.nonfinite_loss == 'stop':
            raise FloatingPointError(
                f'{what}; stopped before the optimizer step, so the last checkpoint is '
                "unaffected (set optim_wrapper.nonfinite_loss='skip' to skip such steps)")
        skipped = self.skipped_steps + 1
        self.message_hub.update_scalar('train/skipped_steps', skipped)
        self._window_skipped = True
        print_log(f'{what}: step skipped ({skipped} so far)', logger='current', level=30)


@OPTIM_WRAPPERS.register_module()
class FiniteLossOptimWrapper(FiniteLossMixin, OptimWrapper):
    """MMEngine's ``OptimWrapper`` with the non-finite loss check of
    :class:`FiniteLossMixin`. Config: ``optim_wrapper=dict(type='FiniteLossOptimWrapper',
    nonfinite_loss='stop' | 'skip', optimizer=..., clip_grad=...)``."""


@OPTIM_WRAPPERS.register_module()
class FiniteLossAmpOptimWrapper(FiniteLossMixin, AmpOptimWrapper):
    """MMEngine's ``AmpOptimWrapper`` (mixed precision) with the non-finite loss check of
    :class:`FiniteLossMixin`; ``tools/train.py --amp`` selects it for
    ``FiniteLossOptimWrapper``."""

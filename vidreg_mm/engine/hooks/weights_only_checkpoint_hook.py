"""Checkpoints written for, and read by, ``torch.load(weights_only=True)``."""
from contextlib import ExitStack
from typing import Sequence

import numpy as np
from mmagic.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from ..checkpoint_io import check_weights_match, resolve_globals, weights_only_loading
from ..mmengine_compat import runner_load_from, unwrap_model

_TAG = '__history_buffer__'


def _plain(value):
    """numpy scalars and arrays as Python numbers and lists; containers recursively."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return type(value)((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def history_buffer_to_plain(buffer: HistoryBuffer) -> dict:
    log, count = buffer.data
    return {_TAG: True, 'log': log.tolist(), 'count': count.tolist(),
            'max_length': buffer.max_length}


def plain_to_history_buffer(state: dict) -> HistoryBuffer:
    return HistoryBuffer(state['log'], state['count'], state['max_length'])


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Write checkpoints that ``torch.load`` reads with ``weights_only=True``, and read
    checkpoints that way during the run.

    MMEngine saves the message hub's ``HistoryBuffer`` objects, whose pickles hold bound
    methods (``getattr``) and numpy arrays, so a checkpoint cannot be loaded by torch's
    weights-only unpickler, and resume fails from torch 2.6 on. Allowlisting ``getattr`` would
    defeat the point of that unpickler. Instead this hook stores the buffers and any numpy
    values in the checkpoint's metadata as plain Python data, and rebuilds the buffers when
    a checkpoint is loaded, before the runner restores its message hub. Checkpoints then hold
    tensors and plain Python values only: no arbitrary code runs from a checkpoint file.

    From ``before_run`` to ``after_run`` (so for ``load_from``, ``--resume`` and
    ``tools/test.py``) MMEngine loads local checkpoints through
    :func:`~vidreg_mm.engine.checkpoint_io.load_local_checkpoint`: weights-only, with errors
    naming the file.

    Checkpoints also record what their network was trained as (``meta['trained_as']``,
    :func:`vidreg_mm.run_config.trained_as`: objective, prediction type, noise schedule,
    latent space, frames per clip); a ``load_from`` checkpoint whose record differs from this
    config's is refused naming each difference, like weights that do not fit.

    Args:
        safe_globals (list[str]): the explicit opt-in for checkpoints of other OpenMMLab runs
            that hold numpy or MMEngine objects: names (``module.attr``) torch's weights-only
            unpickler may accept besides tensors and plain data. Only for files you trust.
            Default: none.
        allow_mismatch (bool): load a ``load_from`` checkpoint (tools/test.py's checkpoint
            and ``--resume PATH`` included) whose weights do not match the model, or that was
            trained as another model, as MMEngine does (what fits is loaded, the rest
            logged). Default: False: such a checkpoint is refused before anything runs, with
            the differences, or the missing, unexpected and mis-shaped keys, listed.
    """

    priority = 'VERY_LOW'  # after every other hook has added what it saves

    def __init__(self, safe_globals: Sequence[str] = (), allow_mismatch: bool = False):
        self.safe_globals = tuple(safe_globals)
        self.allow_mismatch = bool(allow_mismatch)
        resolve_globals(self.safe_globals)  # a wrong name is an error now, not at load time
        self._loading = ExitStack()

    def before_run(self, runner) -> None:
        self._loading.enter_context(weights_only_loading(self.safe_globals))
        load_from = runner_load_from(runner)
        if load_from and not self.allow_mismatch:  # load_from, or --resume PATH
            model = unwrap_model(runner.model)
            try:
                check_weights_match(model, load_from, self.safe_globals,
                                    flag='--cfg-options default_hooks.weights_only.'
                                    'allow_mismatch=True (tools/test.py: --allow-mismatch)',
                                    trained_as=self._record(runner))
            except Exception:
                self._loading.close()
                raise

    def after_run(self, runner) -> None:
        self._loading.close()

    @staticmethod
    def _record(runner) -> dict:
        from ...run_config import trained_as
        return trained_as(unwrap_model(runner.model), getattr(runner, 'cfg', None) or {})

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'meta' in checkpoint:
            checkpoint['meta']['trained_as'] = self._record(runner)
        hub = checkpoint.get('message_hub')
        if hub is not None:
            hub['log_scalars'] = type(hub['log_scalars'])(
                (k, history_buffer_to_plain(v) if isinstance(v, HistoryBuffer) else _plain(v))
                for k, v in hub['log_scalars'].items())
            hub['runtime_info'] = _plain(hub['runtime_info'])
        if 'meta' in checkpoint:
            checkpoint['meta'] = _plain(checkpoint['meta'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if hub is None:
            return
        hub['log_scalars'] = type(hub['log_scalars'])(
            (k, plain_to_history_buffer(v) if isinstance(v, dict) and v.get(_TAG) else v)
            for k, v in hub['log_scalars'].items())

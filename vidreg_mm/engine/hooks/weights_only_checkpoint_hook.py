"""Keep checkpoints loadable with ``torch.load(weights_only=True)`` (torch >= 2.6 default)."""
import numpy as np
from mmagic.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

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
    """Write checkpoints that ``torch.load`` reads with ``weights_only=True``.

    MMEngine saves the message hub's ``HistoryBuffer`` objects, whose pickles hold bound
    methods (``getattr``) and numpy arrays, so a checkpoint cannot be loaded by torch's
    weights-only unpickler, and resume fails from torch 2.6 on. Allowlisting ``getattr`` would
    defeat the point of that unpickler. Instead this hook stores the buffers and any numpy
    values in the checkpoint's metadata as plain Python data, and rebuilds the buffers when
    a checkpoint is loaded, before the runner restores its message hub. Checkpoints then hold
    tensors and plain Python values only: no arbitrary code runs from a checkpoint file.
    """

    priority = 'VERY_LOW'  # after every other hook has added what it saves

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
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

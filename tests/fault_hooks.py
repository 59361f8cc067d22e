"""Hooks that the fault tests load into training runs through ``custom_imports``."""
import json
import os
import os.path as osp
import signal

from mmagic.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """SIGKILL this process after iteration ``at`` (1-based): no clean-up of any kind."""

    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillInValHook(Hook):
    """SIGKILL this process as the evaluation at iteration ``at`` starts (after that
    iteration's checkpoint was saved): a run killed during its evaluation."""

    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def before_val_epoch(self, runner):
        if runner.iter == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class RecordPairsHook(Hook):
    """Write the (clip, frame a, frame b) of every training sample of this rank to
    ``<work_dir>/pairs_rank<r>.json``."""

    def before_train(self, runner):
        self.pairs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        for sample in data_batch['data_samples']:
            meta = sample.metainfo
            self.pairs.append([meta['clip_id'], *map(int, meta['frame_inds'])])

    def after_train(self, runner):
        with open(osp.join(runner.work_dir, f'pairs_rank{get_rank()}.json'), 'w') as f:
            json.dump(self.pairs, f)

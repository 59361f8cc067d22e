"""MMEngine's CheckpointHook with what an exactly resumable run adds to it."""
import os.path as osp

from mmagic.registry import HOOKS
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ..mmengine_compat import runner_resumes
from .random_state_hook import RandomStateHook


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return osp.commonpath([path, folder]) == folder


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook``: its keys, and its rules for when to save, what to keep
    and which checkpoint is best, with three additions.

    - Every rank's random state is captured where a checkpoint is saved (periodic, last and
      best): each rank hands its state to the run's :class:`~.RandomStateHook` before
      MMEngine saves on rank 0 alone, so a resumed run with several processes continues
      every rank's stream.
    - A resumed run whose checkpoint's evaluation did not finish (the run was killed while
      it evaluated, e.g. in the final evaluation after the last checkpoint) runs that
      evaluation first, so no run ends without the metrics it was due; the message hub
      records the last iteration evaluated (``evaluated_iter``).
    - A run deletes files in its own work dir only. A checkpoint carries the path of its
      run's best checkpoint; a run resumed from another work dir's checkpoint forgets that
      path (logged) instead of deleting the other run's best checkpoint when it finds a
      better one.
    """

    def _capture_random_state(self, runner) -> None:
        for hook in runner.hooks:
            if isinstance(hook, RandomStateHook):
                hook.capture(runner)

    def _save_checkpoint_with_step(self, runner, step, meta):
        self._capture_random_state(runner)
        super()._save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if self.save_best:  # on every rank, as MMEngine calls it
            self._capture_random_state(runner)
        super()._save_best_checkpoint(runner, metrics)

    def after_val_epoch(self, runner, metrics):
        runner.message_hub.update_info('evaluated_iter', runner.iter)  # before any re-save
        super().after_val_epoch(runner, metrics)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._forget_foreign_best(runner)
        if runner_resumes(runner) and self._evaluation_missing(runner):
            print_log(f'resumed at iteration {runner.iter}, whose evaluation did not finish '
                      '(the run stopped while it evaluated): evaluating now', logger='current',
                      level=30)
            runner.val_loop.run()

    @staticmethod
    def _evaluation_missing(runner) -> bool:
        """Whether the train loop evaluates at the resumed iteration (MMEngine's rule: from
        ``val_begin``, every ``val_interval`` and at the last iteration) and the message hub
        says that evaluation did not finish."""
        loop, it = runner.train_loop, runner.iter
        if it == 0 or runner.val_loop is None or not hasattr(loop, 'val_interval'):
            return False
        due = it >= loop.val_begin and (it % loop.val_interval == 0 or it == loop.max_iters)
        return due and runner.message_hub.get_info('evaluated_iter') != it

    def _forget_foreign_best(self, runner) -> None:
        if self.save_best is None:
            return
        if len(self.key_indicators) == 1:
            self.best_ckpt_path = self._own(runner, self.best_ckpt_path, '')
        else:
            self.best_ckpt_path_dict = {k: self._own(runner, p, f'_{k}')
                                        for k, p in self.best_ckpt_path_dict.items()}

    def _own(self, runner, path, suffix: str):
        """``path`` if it lies in this run's checkpoint folder; else None, and the best score
        that came with it is dropped too (this run's best is chosen among its own)."""
        if path is None or _inside(path, self.out_dir):
            return path
        info = runner.message_hub.runtime_info
        info.pop(f'best_ckpt{suffix}', None)
        info.pop(f'best_score{suffix}', None)
        print_log(f'the resumed checkpoint names {path} as its best checkpoint, outside this '
                  f"run's checkpoint folder {self.out_dir}: that file is left alone, and this "
                  'run keeps a best checkpoint of its own evaluations', logger='current',
                  level=30)
        return None

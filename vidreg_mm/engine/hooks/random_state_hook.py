"""Random state that survives a resume and is not disturbed by evaluation."""
from typing import List, Optional

from mmagic.registry import HOOKS
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from ..mmengine_compat import runner_resumes, unwrap_model
from ..random_state import rng_state, set_rng_state


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Resume a run's random stream where it stopped; keep evaluation out of it.

    - Checkpoints carry every rank's torch random state (CPU and CUDA generators) at the
      saved iteration (``random_state``: tensors only, weights-only loadable). ``--resume``
      restores it on each rank before the first resumed iteration, so the model's draws
      (timesteps, noise, dropout) continue as in an uninterrupted run. The data pipeline's
      own streams (the sampler, the pair offsets and augmentations drawn with numpy in the
      loader, in workers or in the main process) are reproduced by MMEngine's train loop,
      which replays the batches consumed before the checkpoint. Together: with a fixed seed
      and deterministic mode, a resumed run's losses equal the uninterrupted run's, step for
      step (tests/test_faults.py). A checkpoint written with another number of processes, or
      without this hook, resumes with a fresh stream and a warning.
    - Validation and test restart the model's sample counter (every evaluation scores the
      same seeds, so curves compare like with like), and every random generator (python,
      numpy, torch) is restored after validation: a run draws the same training stream
      whatever its ``val_interval``.

    Args:
        none. Priority LOW: after_train_iter runs before CheckpointHook's (VERY_LOW).
    """

    priority = 'LOW'

    def __init__(self):
        self._captured: Optional[dict] = None
        self._pending: Optional[dict] = None
        self._val_state = None

    # -- checkpoints ---------------------------------------------------------------------------
    @staticmethod
    def _checkpoint_due(runner) -> bool:
        """Whether a CheckpointHook saves after this iteration, by its own predicates. The
        state is gathered here, on every rank, because MMEngine saves on rank 0 alone
        (``Runner.save_checkpoint`` is ``master_only``): ``before_save_checkpoint`` cannot
        reach the other ranks' generators."""
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch and (
                    hook.every_n_train_iters(runner, hook.interval, hook.save_begin) or
                    (hook.save_last and hook.is_last_train_iter(runner))):
                return True
        return False

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._checkpoint_due(runner):  # on every rank: the gather is collective
            self._captured = dict(iter=runner.iter + 1,
                                 ranks=self._gather(rng_state(host_streams=False)))

    @staticmethod
    def _gather(state: dict) -> List[dict]:
        _, world_size = get_dist_info()
        return all_gather_object(state) if world_size > 1 else [state]

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        it = checkpoint.get('meta', {}).get('iter')
        _, world_size = get_dist_info()
        if self._captured is None or self._captured['iter'] != it:
            if world_size > 1:  # only this rank runs here: the others' states are unknown
                print_log(f'checkpoint at iteration {it}: random state not captured on every '
                          'rank, not saved (a resume starts a fresh random stream)',
                          logger='current', level=30)
                return
            self._captured = dict(iter=it, ranks=[rng_state(host_streams=False)])
        checkpoint['random_state'] = dict(world_size=world_size,
                                          ranks=self._captured['ranks'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner_resumes(runner):
            return  # load_from: new training from loaded weights, new stream
        state = checkpoint.get('random_state')
        rank, world_size = get_dist_info()
        if state is None:
            print_log('the checkpoint holds no random state: the resumed run draws a fresh '
                      'random stream', logger='current', level=30)
        elif state['world_size'] != world_size:
            print_log(f"the checkpoint's random state is of {state['world_size']} processes, "
                      f'this run has {world_size}: the resumed run draws a fresh random '
                      'stream', logger='current', level=30)
        else:
            self._pending = state['ranks'][rank]

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._pending is not None:
            set_rng_state(self._pending)
            self._pending = None

    # -- evaluation ----------------------------------------------------------------------------
    @staticmethod
    def _restart_samples(runner):
        model = unwrap_model(runner.model)
        if hasattr(model, 'restart_sample_seeds'):
            model.restart_sample_seeds()

    def before_val(self, runner):
        self._val_state = rng_state()
        self._restart_samples(runner)

    def after_val(self, runner):
        if self._val_state is not None:
            set_rng_state(self._val_state)
            self._val_state = None

    def before_test(self, runner):
        self._restart_samples(runner)

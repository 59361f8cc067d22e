"""Random state that survives a resume and is not disturbed by evaluation."""
from typing import Optional

from mmagic.registry import HOOKS
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
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

    With several processes the states are gathered where the checkpoint is saved, which
    :class:`~.ResumableCheckpointHook` (``default_hooks.checkpoint``) asks for on every rank;
    a single process needs no help.

    Args:
        none.
    """

    priority = 'LOW'

    def __init__(self):
        self._captured: Optional[dict] = None
        self._pending: Optional[dict] = None
        self._val_state = None

    # -- checkpoints ---------------------------------------------------------------------------
    def _training_stream(self) -> dict:
        """This rank's torch generators as training left them: during validation, as they
        were before it (validation draws are not part of the training stream)."""
        state = self._val_state if self._val_state is not None else rng_state(False)
        return {k: v for k, v in state.items() if k in ('torch', 'cuda')}

    def capture(self, runner) -> None:
        """Gather every rank's training stream for the checkpoint about to be saved. Called on
        every rank (a collective) by :class:`~.ResumableCheckpointHook` where it saves: MMEngine
        saves on rank 0 alone (``Runner.save_checkpoint`` is ``master_only``), so
        ``before_save_checkpoint`` cannot reach the other ranks' generators."""
        state = self._training_stream()
        _, world_size = get_dist_info()
        ranks = all_gather_object(state) if world_size > 1 else [state]
        self._captured = dict(iter=runner.iter, ranks=ranks)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        _, world_size = get_dist_info()
        if self._captured is None or self._captured['iter'] != runner.iter:
            if world_size > 1:  # only this rank runs here: the others' states are unknown
                print_log(f"checkpoint at iteration {checkpoint.get('meta', {}).get('iter')}: "
                          'random state not captured on every rank (default_hooks.checkpoint '
                          'is not a ResumableCheckpointHook), not saved: a resume starts a '
                          'fresh random stream', logger='current', level=30)
                return
            self._captured = dict(iter=runner.iter, ranks=[self._training_stream()])
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

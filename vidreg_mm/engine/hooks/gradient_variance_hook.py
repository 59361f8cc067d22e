"""Log the variance of mini-batch gradients during training."""
import copy

from mmagic.registry import HOOKS
from mmengine.hooks import Hook

from ..gradient_variance import gradient_variance, model_loss
from ..mmengine_compat import unwrap_model
from ..random_state import preserved_rng_state


@HOOKS.register_module()
class GradientVarianceHook(Hook):
    """Every ``interval`` iterations, the variance of mini-batch gradients at the current
    parameters (docs/method.md): ``num_batches`` mini-batches of the training data, each
    giving the gradient of the training loss; logged as ``grad_variance`` (and
    ``grad_sq_norm``, the squared norm of their mean) in the visualizer's scalars at that
    iteration. Off by default (``interval=0``): it costs ``num_batches`` forward and backward
    passes. The batches come from a loader of their own, and every random generator is
    restored afterwards, so the training run is the same with or without the hook.

    Args:
        interval (int): iterations between measurements; 0 turns the hook off.
        num_batches (int): mini-batches per measurement (>= 2). Default: 8.
        seed (int): seed of the measurement's own data order. Default: 0.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 0, num_batches: int = 8, seed: int = 0):
        if num_batches < 2:
            raise ValueError(f'num_batches must be >= 2, got {num_batches}')
        self.interval, self.num_batches, self.seed = interval, num_batches, seed
        self._batches = None

    def before_train(self, runner):
        if self.interval <= 0:
            return
        cfg = copy.deepcopy(runner.cfg.train_dataloader)
        cfg.update(num_workers=0, persistent_workers=False,
                   sampler=dict(type='InfiniteSampler', shuffle=True, seed=self.seed))
        with preserved_rng_state():
            self._batches = iter(runner.build_dataloader(cfg, seed=self.seed))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.interval <= 0 or not self.every_n_train_iters(runner, self.interval):
            return
        model = unwrap_model(runner.model)
        with preserved_rng_state():
            batches = [next(self._batches) for _ in range(self.num_batches)]
            stats = gradient_variance(model_loss(model), batches, list(model.parameters()))
        runner.visualizer.add_scalars(
            dict(grad_variance=stats['grad_variance'], grad_sq_norm=stats['grad_sq_norm']),
            step=runner.iter + 1)
        runner.logger.info(f"gradient variance over {self.num_batches} mini-batches: "
                           f"{stats['grad_variance']:.6g} (squared norm of the mean gradient "
                           f"{stats['grad_sq_norm']:.6g})")

"""Save a grid of generated samples (fixed seeds) as PNG and through MMEngine's visualizer."""
import os
import os.path as osp
from typing import Optional

import cv2
from mmagic.registry import HOOKS
from mmengine.dist import master_only
from mmengine.hooks import EMAHook, Hook
from torchvision.utils import make_grid

from ...models.objectives import SAMPLERS
from ..mmengine_compat import unwrap_model


def write_grid(imgs, path: str, nrow: Optional[int] = None):
    """Write uint8 RGB images (N x 3 x H x W) as one PNG grid (``nrow`` per row, default
    square-ish, white 2-px gaps) to ``path``; returns the grid (H x W x 3 RGB)."""
    nrow = nrow or max(1, int(round(len(imgs)**0.5)))
    grid = make_grid(imgs, nrow=nrow, padding=2, pad_value=255).permute(1, 2, 0)
    grid = grid.contiguous().numpy()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')
    return grid


@HOOKS.register_module()
class SampleGridHook(Hook):
    """Every ``interval`` training iterations (and after training), generate
    ``num_samples`` images from fixed seeds and write them as one PNG grid to
    ``<work_dir>/samples/iter_<N>.png`` and to the visualizer (TensorBoard, local files),
    under the name ``samples``.

    Samples come from the EMA weights when an ``EMAHook`` is configured, else from the model.

    Args:
        interval (int): iterations between grids; <= 0 means only after training.
        num_samples (int): images in the grid. Default: 16.
        num_steps (int): sampling steps. Default: 50.
        sampler (str, optional): 'ddim' or 'ddpm' ('euler' or 'heun' for flow matching);
            None: the model's own ``sampler``. Default: None.
        seed (int): seed of the grid's noise (the same grid of seeds every time).
        nrow (int, optional): images per row (default: square-ish).
    """

    priority = 'LOW'

    def __init__(self, interval: int = -1, num_samples: int = 16, num_steps: int = 50,
                 sampler: Optional[str] = None, seed: int = 0, nrow: Optional[int] = None):
        if num_samples < 1 or num_steps < 1:
            raise ValueError(f'num_samples and num_steps must be >= 1, got {num_samples}, '
                             f'{num_steps}')
        if sampler is not None and sampler not in SAMPLERS:  # now, not after a whole run
            raise ValueError(f'SampleGridHook sampler must be one of {SAMPLERS} or None, got '
                             f'{sampler!r}')
        self.interval, self.num_samples, self.num_steps = interval, num_samples, num_steps
        self.sampler, self.seed = sampler, seed
        self.nrow = nrow or max(1, int(round(num_samples**0.5)))
        self.last_path = None

    def _sampling_model(self, runner):
        for hook in runner.hooks:
            if isinstance(hook, EMAHook) and getattr(hook, 'ema_model', None) is not None:
                return hook.ema_model.module
        return unwrap_model(runner.model)

    def before_run(self, runner) -> None:
        """The sampler must be one the model's objective has (checked before training)."""
        model = unwrap_model(runner.model)
        if self.sampler is None:
            self.sampler = getattr(model, 'sampler', 'ddim')
        allowed = getattr(model, 'samplers', SAMPLERS)
        if self.sampler not in allowed:
            raise ValueError(f'default_hooks.sample_grid.sampler={self.sampler!r}: the model '
                             f'samples with one of {tuple(allowed)}')

    @master_only
    def save_grid(self, runner, step: int) -> str:
        """The grid after ``step`` training iterations: ``samples/iter_<step>.png``."""
        if self.sampler is None:
            self.before_run(runner)
        imgs = self._sampling_model(runner).infer(num_samples=self.num_samples,
                                                  num_steps=self.num_steps,
                                                  sampler=self.sampler, seed=self.seed)
        path = osp.join(runner.work_dir, 'samples', f'iter_{step}.png')
        grid = write_grid(imgs, path, self.nrow)
        runner.visualizer.add_image('samples', grid, step=step)
        runner.logger.info(f'sample grid ({self.num_samples} samples, {self.sampler} '
                           f'{self.num_steps} steps) saved to {path}')
        self.last_path = path
        return path

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        # runner.iter counts the iterations before this one (the loop adds one after the
        # hooks), so this is the grid after runner.iter + 1 iterations, as checkpoints count
        if self.interval > 0 and self.every_n_train_iters(runner, self.interval):
            self.save_grid(runner, runner.iter + 1)

    def after_train(self, runner):
        if not (self.interval > 0 and runner.iter % self.interval == 0):
            self.save_grid(runner, runner.iter)

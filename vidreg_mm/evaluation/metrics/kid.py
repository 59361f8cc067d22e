"""Kernel Inception Distance of generated samples against the frames of a split."""
import numpy as np
import torch
from mmagic.registry import METRICS
from mmengine.logging import print_log

from .frame_fid import FrameFID


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> dict:
    """Unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3
    (Binkowski et al. 2018), averaged over ``num_subsets`` random subsets of
    ``m = min(subset_size, len(real), len(fake))`` samples of each set.

    For each subset: ``sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
    - 2 sum_{i,j} k(x_i, y_j) / m^2``. Returns the mean (``kid``) and the standard deviation
    (``kid_std``) over subsets. Subsets are drawn from a generator of their own (``seed``).
    """
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f'KID needs at least 2 real and 2 generated samples, got {len(real)} '
                         f'and {len(fake)}')
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    d = real.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        k_xx, k_yy, k_xy = ((a @ b.T / d + 1)**3 for a, b in ((x, x), (y, y), (x, y)))
        within = ((k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))) / (m * (m - 1))
        values.append(within - 2 * k_xy.mean())
    return dict(kid=float(np.mean(values)), kid_std=float(np.std(values)))


@METRICS.register_module()
class FrameKID(FrameFID):
    """KID of generated samples against the frames of a split, with the feature extractors of
    :class:`FrameFID` (and its generated samples, when a config lists both). Unlike FID, KID
    is unbiased, so it compares runs fairly at the few samples a CPU can afford.

    Args:
        num_subsets (int): random subsets averaged. Default: 100.
        subset_size (int): samples per subset (capped by the sets' sizes). Default: 1000.
        seed (int): seed of the subsets. Default: 0.
        Other arguments as :class:`FrameFID` (``real_stats_file``: refused, this metric
            needs the real features, not their statistics).
    """

    name = 'KID'
    reads_real_stats = False

    def __init__(self, fake_nums: int, real_nums: int = -1, num_subsets: int = 100,
                 subset_size: int = 1000, seed: int = 0, **kwargs):
        if num_subsets < 1 or subset_size < 2:
            raise ValueError(f'num_subsets must be >= 1 and subset_size >= 2, got {num_subsets}'
                             f' and {subset_size}')
        self.num_subsets, self.subset_size, self.seed = num_subsets, subset_size, seed
        super().__init__(fake_nums, real_nums, **kwargs)

    def prepare(self, module, dataloader) -> None:
        self.prepare_real_features(module, dataloader)

    def compute_metrics(self, fake_results: list) -> dict:
        fake = torch.cat(fake_results).numpy()
        results = kernel_inception_distance(self.real_feats.numpy(), fake, self.num_subsets,
                                            self.subset_size, self.seed)
        print_log(f"{self.prefix}: KID {results['kid']:.5f} +- {results['kid_std']:.5f} with "
                  f'{self.extractor_name} ({len(fake)} generated, {len(self.real_feats)} real '
                  'frames)', logger='current')
        return results

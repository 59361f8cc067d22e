"""Diversity and coverage of generated samples in the feature space of FID."""
import torch
from mmagic.registry import METRICS
from mmengine.logging import print_log
from torch import Tensor

from .frame_fid import FrameFID


def knn_radii(feats: Tensor, k: int) -> Tensor:
    """Distance of each point to its k-th nearest neighbour in the same set (self excluded)."""
    return torch.cdist(feats, feats).kthvalue(k + 1, dim=1).values


def manifold_metrics(real: Tensor, fake: Tensor, k: int = 5) -> dict:
    """Precision and recall (Kynkaanniemi et al. 2019), coverage (Naeem et al. 2020) of
    ``fake`` against ``real`` with k-nearest-neighbour balls, and the mean pairwise distance of
    each set.

    precision: share of fakes inside some real ball; recall: share of reals inside some fake
    ball; coverage: share of reals whose own ball holds a fake.
    """
    real, fake = real.double(), fake.double()
    if min(len(real), len(fake)) <= k:
        raise ValueError(f'need more than k={k} real and fake samples, got {len(real)} and '
                         f'{len(fake)}')
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    d = torch.cdist(fake, real)  # fakes x reals
    inside_real = d <= r_real[None, :]
    mean_dist = lambda x: float(torch.pdist(x).mean())  # noqa: E731
    return dict(precision=float(inside_real.any(1).float().mean()),
                recall=float((d <= r_fake[:, None]).any(0).float().mean()),
                coverage=float(inside_real.any(0).float().mean()),
                pairwise_distance=mean_dist(fake), real_pairwise_distance=mean_dist(real))


@METRICS.register_module()
class FrameDiversity(FrameFID):
    """Precision, recall, coverage and mean pairwise feature distance of generated samples
    against the frames of a split, with the same extractor options as :class:`FrameFID` (so
    a config reports them next to FID, sharing its generated samples).

    Recall and coverage measure how much of the real distribution the samples reach; the
    pairwise distance of samples, next to that of real frames, how spread they are.

    Args:
        k (int): neighbours of the k-NN balls. Default: 5.
        real_nums (int): real frames used (-1: all); they are all kept in memory.
        Other arguments as :class:`FrameFID` (``real_stats_file``: refused, this metric
            needs the real features, not their statistics).
    """

    name = 'Diversity'
    reads_real_stats = False

    def __init__(self, fake_nums: int, real_nums: int = -1, k: int = 5, **kwargs):
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        self.k = k
        super().__init__(fake_nums, real_nums, **kwargs)

    def prepare(self, module, dataloader) -> None:
        self.prepare_real_features(module, dataloader)

    def compute_metrics(self, fake_results: list) -> dict:
        results = manifold_metrics(self.real_feats, torch.cat(fake_results), self.k)
        print_log(f'{self.prefix}: precision {results["precision"]:.3f}, recall '
                  f'{results["recall"]:.3f}, coverage {results["coverage"]:.3f}, pairwise '
                  f'distance {results["pairwise_distance"]:.4g} (real '
                  f'{results["real_pairwise_distance"]:.4g}) with {self.extractor_name}',
                  logger='current')
        return results

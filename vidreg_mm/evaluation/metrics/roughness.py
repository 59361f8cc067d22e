"""How much pixel noise generated samples carry, next to the real frames."""
from typing import Optional, Sequence

import torch
from mmagic.evaluation.metrics.base_gen_metric import GenerativeMetric
from mmagic.registry import METRICS
from mmengine.dist import all_gather_object
from mmengine.logging import print_log
from torch import Tensor

from .frame_fid import check_sample_counts


def roughness(images: Tensor) -> Tensor:
    """Mean absolute difference of vertically adjacent pixels of each image (N x C x H x W,
    0..255): about 3 for the synthetic hands' frames, 30-40 for uniform noise at 32 px."""
    return (images[:, :, 1:] - images[:, :, :-1]).abs().float().flatten(1).mean(1)


@METRICS.register_module()
class SampleRoughness(GenerativeMetric):
    """Leftover pixel noise of generated samples: :func:`roughness` averaged over
    ``fake_nums`` samples (``roughness``), over the real frames of the evaluation loader
    (``real_roughness``) and their ratio (``roughness_ratio``; 1 means as smooth as the data,
    a sampler or recipe that returns noise scores several times that). FID in a feature
    space can miss such noise; this cannot.

    Args:
        fake_nums (int): generated samples to score.
        real_nums (int): real frames to score (-1: all). Default: -1.
    """

    name = 'Roughness'

    def __init__(self, fake_nums: int, real_nums: int = -1, sample_model: str = 'orig',
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        check_sample_counts(fake_nums, real_nums)
        super().__init__(fake_nums, real_nums, fake_key=None, real_key=None,
                         sample_model=sample_model, collect_device=collect_device, prefix=prefix)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        if len(self.fake_results) >= self.fake_nums_per_device:
            return
        imgs = torch.stack([s['fake_img'] for s in data_samples])
        self.fake_results += list(roughness(imgs).cpu()[:, None])  # one 1-d tensor each

    def _collect_target_results(self, target: str):
        self.fake_results = self.fake_results[:self.fake_nums_per_device]  # this rank's share
        return super()._collect_target_results(target)

    @torch.no_grad()
    def prepare(self, module, dataloader) -> None:
        values, limit = [], self.real_nums_per_device if self.real_nums > 0 else None
        pre = module.data_preprocessor
        for batch in dataloader:
            frames = pre.destruct(pre(batch, False)['inputs']).flatten(0, 1)
            values.append(roughness(frames.round()).cpu())
            if limit is not None and sum(map(len, values)) >= limit:
                break
        local = torch.cat(values)[:limit]
        self.real_values = torch.cat(all_gather_object(local))

    def compute_metrics(self, fake_results: list) -> dict:
        fake = float(torch.cat(list(fake_results)).mean())
        real = float(self.real_values.mean())
        ratio = fake / real if real > 0 else float('nan')  # undefined for flat real frames
        print_log(f'{self.prefix}: roughness of samples {fake:.2f}, of real frames {real:.2f} '
                  f'(ratio {ratio:.2f}; {len(fake_results)} samples)', logger='current')
        return dict(roughness=fake, real_roughness=real, roughness_ratio=ratio)

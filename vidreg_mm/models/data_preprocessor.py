"""Turn packed clip samples into one normalised B x T x C x H x W batch on the device."""
from typing import Sequence, Union

import torch
from mmagic.registry import MODELS
from mmengine.model import BaseDataPreprocessor
from torch import Tensor


@MODELS.register_module()
class FramePairDataPreprocessor(BaseDataPreprocessor):
    """Stack ``B`` samples of ``T`` frames into one ``B x T x C x H x W`` batch.

    ``inputs`` (a list of uint8 ``T x 3 x H x W`` tensors from :class:`PackFrames`, or one
    stacked ``B x T x 3 x H x W`` tensor) becomes a float batch in ``[-1, 1]`` whose clip
    axis T is kept: T = 1 single frames, T = 2 pairs, any T alike. Single frames given as
    ``B x 3 x H x W`` get T = 1. A dict of ``inputs`` (MMagic's generative-metric samplers:
    ``dict(num_batches=N, ...)``) passes through unchanged.

    Args:
        mean (float): subtracted from the uint8 values. Default: 127.5.
        std (float): divides after the subtraction. Default: 127.5.
    """

    def __init__(self, mean: float = 127.5, std: float = 127.5):
        super().__init__()
        if std <= 0:
            raise ValueError(f'std must be > 0, got {std}')
        self.mean, self.std = float(mean), float(std)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs: Union[Tensor, Sequence[Tensor], dict] = data['inputs']
        if isinstance(inputs, dict):  # MMagic's generative metrics: dict(num_batches=N, ...)
            return dict(inputs=inputs, data_samples=data.get('data_samples'))
        if not torch.is_tensor(inputs):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError(f'all samples of a batch must have one shape, got {shapes}')
            inputs = torch.stack(list(inputs))
        if inputs.dim() == 4:  # B x 3 x H x W: single frames
            inputs = inputs[:, None]
        if inputs.dim() != 5:
            raise ValueError(f'expected samples of T x C x H x W frames, got a batch of shape '
                             f'{tuple(inputs.shape)}')
        clips = (inputs.float() - self.mean) / self.std
        return dict(inputs=clips, data_samples=data.get('data_samples'))

    def destruct(self, frames: Tensor) -> Tensor:
        """Model-space frames back to the 0..255 range (float), as MMagic's metrics read."""
        return (frames * self.std + self.mean).clamp(0, 255)

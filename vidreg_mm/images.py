"""Image value ranges: frames are uint8 0..255 on disk and in metrics, [-1, 1] in models."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor


def to_unit_range(images: Tensor, size: Optional[int] = None) -> Tensor:
    """0..255 images (N x C x H x W, any dtype) as float in [-1, 1], resized to ``size`` x
    ``size`` (bilinear, antialiased) when given and different."""
    x = images.float() / 127.5 - 1
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False,
                          antialias=True)
    return x

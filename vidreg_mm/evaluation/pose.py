"""A small hand-pose regressor and the feature extractor that scores samples with it.

Inception features see colour, texture and layout; whether a model captures the finger
articulation of the data needs features that see the pose. On data whose joint angles are
known (the synthetic hands: :func:`vidreg_mm.datasets.synthetic_hands_poses`), a regressor
trained from frames to angles gives two such views of an image: its penultimate
activations (``output='features'``: Frechet distance, KID) and its predicted angles
(``output='angles'``: precision, recall and coverage in joint-angle space).
``benchmarks/pose_diversity.py`` trains one and scores the recipes with it.
"""
import hashlib
import os.path as osp
from typing import Sequence

import torch
from mmagic.registry import MODELS
from torch import Tensor, nn

from ..fileio import atomic_open
from ..images import to_unit_range


class HandPoseRegressor(nn.Module):
    """Frames (N x 3 x S x S, RGB, 0..255) to standardised joint angles (N x num_angles).

    Four stages of two 3 x 3 convolutions (batch norm, ReLU), each but the first halving
    the resolution, then a fully connected feature layer (``feature_dim``) and the linear
    head. The input is normalised to [-1, 1] and resized to ``input_size``.
    """

    def __init__(self, num_angles: int, input_size: int = 32, channels=(32, 64, 128, 128),
                 feature_dim: int = 256):
        super().__init__()
        self.input_size = input_size
        layers, c_in = [], 3
        for i, c_out in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.trunk = nn.Sequential(*layers)
        side = input_size // 2**(len(channels) - 1)
        self.feature = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, feature_dim),
                                     nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, num_angles)

    def features(self, images: Tensor) -> Tensor:
        return self.feature(self.trunk(to_unit_range(images, self.input_size)))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


def save_pose_regressor(path: str, model: HandPoseRegressor, arch: dict, angle_names,
                        mean: Tensor, std: Tensor, report: dict) -> None:
    """Write the regressor with what loading it needs (architecture, angle names, the
    standardisation of the targets) and its accuracy report; atomically."""
    with atomic_open(path) as f:
        torch.save(dict(state_dict=model.state_dict(), arch=dict(arch),
                        angle_names=list(angle_names), mean=mean.cpu(), std=std.cpu(),
                        report=report), f)


def load_pose_regressor(path: str):
    """(model in eval mode, checkpoint dict) from :func:`save_pose_regressor`'s file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'pose regressor {path} does not exist: train one with '
                                'python -m benchmarks.pose_diversity (docs/results.md)')
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    missing = {'state_dict', 'arch', 'angle_names', 'mean', 'std'} - set(ckpt)
    if missing:
        raise ValueError(f'{path} is not a pose regressor checkpoint (no {sorted(missing)})')
    model = HandPoseRegressor(**ckpt['arch'])
    model.load_state_dict(ckpt['state_dict'])
    return model.eval().requires_grad_(False), ckpt


@MODELS.register_module()
class PoseRegressorFeatures(nn.Module):
    """A trained :class:`HandPoseRegressor` (a local file) as the feature extractor of
    :class:`FrameFID`, :class:`FrameKID` or :class:`FrameDiversity`.

    Args:
        checkpoint (str): the regressor's file (:func:`save_pose_regressor`).
        output (str): 'features' (the penultimate layer) or 'angles' (predicted angles,
            standardised by the training targets' mean and std, so every angle counts alike
            in a distance).
        angles (sequence[str], optional): with output='angles', the angles to keep (names
            of the checkpoint's ``angle_names``); default all.
    """

    def __init__(self, checkpoint: str, output: str = 'features', angles: Sequence[str] = None):
        super().__init__()
        if output not in ('features', 'angles'):
            raise ValueError(f"output must be 'features' or 'angles', got {output!r}")
        self.model, ckpt = load_pose_regressor(checkpoint)
        self.checkpoint, self.output = checkpoint, output
        with open(checkpoint, 'rb') as f:  # other weights in the same file: another name
            self.digest = hashlib.sha1(f.read()).hexdigest()[:8]
        names = list(ckpt['angle_names'])
        unknown = sorted(set(angles or ()) - set(names))
        if unknown:
            raise ValueError(f'angles {unknown} are not predicted by {checkpoint} '
                             f'(it predicts {names})')
        self.keep = [names.index(a) for a in angles] if angles else list(range(len(names)))

    @property
    def name(self) -> str:
        """The file and its content's digest (the key of cached real features)."""
        what = self.output if self.output == 'features' else f'{len(self.keep)} angles'
        return f'PoseRegressor({osp.basename(self.checkpoint)}@{self.digest},{what})'

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if self.output == 'features':
            return self.model.features(images)
        return self.model(images)[:, self.keep]

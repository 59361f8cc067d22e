"""The latent space of a frozen autoencoder: the model trains and samples there when its
config has ``autoencoder=dict(...)`` (see docs/latent.md)."""
import hashlib
import os
import os.path as osp
from typing import Optional

import torch
from mmagic.registry import MODELS
from torch import Tensor, nn

from ..fileio import atomic_open
from ..registry import mmagic_scope

#: keys of ``model.autoencoder`` that :func:`build_autoencoder` reads, not the class
AUTOENCODER_KEYS = ('train_if_missing', )


def build_autoencoder(cfg: dict) -> nn.Module:
    """diffusers' ``AutoencoderKL`` through MMagic's registry (``type='AutoencoderKL'``), from
    a local folder (``from_pretrained=PATH``: nothing is downloaded) or built from its config
    keys; returns the diffusers model itself.

    ``train_if_missing=dict(...)`` with ``from_pretrained``: when the folder does not exist,
    fit a small autoencoder there first (:func:`vidreg_mm.models.autoencoder_fit.
    ensure_autoencoder`, whose keys it takes); an existing folder is never touched.
    """
    cfg = dict(cfg)
    fit = cfg.pop(AUTOENCODER_KEYS[0], None)
    path = cfg.get('from_pretrained')
    if path is not None:
        if not osp.isdir(path):
            if fit is None:
                raise FileNotFoundError(
                    f'model.autoencoder.from_pretrained={path!r} is not a folder. Give a '
                    'local folder written by save_pretrained (config.json and weights; '
                    'docs/latent.md says where to get one): nothing is downloaded')
            from .autoencoder_fit import ensure_autoencoder
            ensure_autoencoder(path, **fit)
        if not osp.isfile(osp.join(path, 'config.json')):
            raise FileNotFoundError(f'model.autoencoder.from_pretrained={path!r} holds no '
                                    'config.json: it is not a saved diffusers autoencoder')
        cfg.setdefault('local_files_only', True)
    elif fit is not None:
        raise ValueError('model.autoencoder.train_if_missing needs '
                         'model.autoencoder.from_pretrained: the folder to write it to')
    with mmagic_scope():
        built = MODELS.build(cfg)
    vae = getattr(built, 'model', built)  # MMagic's wrapper holds the diffusers model
    for name in ('encode', 'decode'):
        if not callable(getattr(vae, name, None)):
            raise TypeError(f'model.autoencoder ({cfg.get("type")}) has no {name}(): an '
                            'AutoencoderKL-type model is needed')
    config = getattr(vae, 'config', None)
    if config is None or config.get('scaling_factor') is None:
        raise ValueError(f'model.autoencoder ({cfg.get("type")}) has no config.scaling_factor')
    return vae


def weights_fingerprint(module: nn.Module) -> str:
    """SHA-1 of the module's state dict (names, shapes and values): which autoencoder a
    checkpoint or a latent cache was made with."""
    digest = hashlib.sha1()
    for name, value in sorted(module.state_dict().items()):
        value = value.detach().cpu().contiguous()
        digest.update(f'{name}:{tuple(value.shape)}:{value.dtype}'.encode())
        digest.update(value.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _drop_loaded_weights(module, state_dict, prefix, local_metadata):
    """State-dict hook: weights that came from a folder are the folder's, not the
    checkpoint's (only their fingerprint is saved)."""
    if module.weights_from_folder:
        for key in [k for k in state_dict if k.startswith(prefix + 'vae.')]:
            del state_dict[key]


class LatentCache:
    """Posterior moments of frames on disk, one file per frame, keyed by the frame's pixels
    (after the data pipeline: so by file and pipeline, and exact under random transforms)
    and the autoencoder's fingerprint. Files are written atomically (temporary file, then
    rename), so concurrent ranks and a crashed run never leave a half-written entry."""

    def __init__(self, root: str, fingerprint: str):
        self.dir = osp.join(root, fingerprint[:16])
        os.makedirs(self.dir, exist_ok=True)
        self.hits = self.misses = 0

    def _path(self, frame: Tensor) -> str:
        key = hashlib.sha1(frame.contiguous().view(-1).view(torch.uint8).numpy()).hexdigest()
        return osp.join(self.dir, key[:2], key + '.pt')

    def paths(self, frames: Tensor):
        frames = frames.detach().float().cpu()
        return [self._path(f) for f in frames]

    def read(self, path: str) -> Optional[Tensor]:
        if not osp.isfile(path):
            return None
        try:
            return torch.load(path, map_location='cpu', weights_only=True)
        except Exception:  # a file that cannot be read is recomputed and rewritten
            return None

    def write(self, path: str, moments: Tensor) -> None:
        with atomic_open(path) as f:
            torch.save(moments.detach().cpu().clone(), f)


class LatentSpace(nn.Module):
    """A frozen autoencoder (eval mode, no gradients) between the data and the denoiser.

    ``encode`` maps B x T x 3 x H x W frames in [-1, 1] to scaled latents (one encoder pass
    for all B * T frames; a draw from the posterior, times ``config.scaling_factor``, as
    latent diffusion trains); ``decode`` maps latents back to frames in [-1, 1].

    Weights loaded from a folder (``from_pretrained``) stay the folder's: checkpoints hold
    their fingerprint only, and loading a checkpoint made with other autoencoder weights is
    refused. Weights of an autoencoder built from a config are saved with the model (its
    fingerprint buffer is then the one it was built with, and is not checked).

    Args:
        autoencoder (dict): ``model.autoencoder`` (see :func:`build_autoencoder`).
        cache_dir (str, optional): where the posterior moments of training frames are
            cached (:class:`LatentCache`); None: encode every step.
    """

    def __init__(self, autoencoder: dict, cache_dir: Optional[str] = None):
        super().__init__()
        self.vae = build_autoencoder(autoencoder)
        self.vae.requires_grad_(False)
        self.vae.eval()
        self.weights_from_folder = autoencoder.get('from_pretrained') is not None
        config = self.vae.config
        self.scaling_factor = float(config.scaling_factor)
        self.channels = int(config.latent_channels)
        self.factor = 2**(len(config.block_out_channels) - 1)
        self.register_buffer('fingerprint_bytes', torch.tensor(
            list(bytes.fromhex(weights_fingerprint(self.vae))), dtype=torch.uint8))
        self._register_state_dict_hook(_drop_loaded_weights)
        self.cache_dir, self._cache = cache_dir, None

    @property
    def fingerprint(self) -> str:
        """The SHA-1 of the autoencoder's weights (the buffer checkpoints hold)."""
        return bytes(self.fingerprint_bytes.cpu().tolist()).hex()

    @property
    def cache(self) -> Optional[LatentCache]:
        """The latent cache (None without ``cache_dir``), keyed by the weights of its first
        use: after a checkpoint is loaded, before the first training step."""
        if self.cache_dir and self._cache is None:
            self._cache = LatentCache(self.cache_dir, weights_fingerprint(self.vae))
        return self._cache

    def train(self, mode: bool = True):
        super().train(mode)
        self.vae.eval()  # frozen: always in eval mode
        return self

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        saved = state_dict.get(prefix + 'fingerprint_bytes')
        if saved is not None and self.weights_from_folder:
            saved = bytes(saved.cpu().tolist()).hex()
            if saved != self.fingerprint:
                raise RuntimeError(
                    f'the checkpoint was trained with other autoencoder weights (fingerprint '
                    f'{saved[:12]}) than model.autoencoder.from_pretrained gives '
                    f'({self.fingerprint[:12]}): load it with the '
                    'autoencoder it was trained with')
            for key, value in self.vae.state_dict().items():  # the folder's weights stay
                state_dict.setdefault(f'{prefix}vae.{key}', value)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _moments(self, frames: Tensor) -> Tensor:
        return self.vae.encode(frames).latent_dist.parameters

    def moments(self, frames: Tensor) -> Tensor:
        """Posterior mean and log-variance (N x 2c x h x w) of frames (N x 3 x H x W), from
        the cache where it has them."""
        if self.cache is None:
            return self._moments(frames)
        paths = self.cache.paths(frames)
        found = [self.cache.read(p) for p in paths]
        todo = [i for i, m in enumerate(found) if m is None]
        self.cache.hits += len(paths) - len(todo)
        self.cache.misses += len(todo)
        if todo:
            computed = self._moments(frames[todo])
            for i, m in zip(todo, computed):
                self.cache.write(paths[i], m)
                found[i] = m
        return torch.stack([m.to(frames.device, torch.float32) for m in found])

    @torch.no_grad()
    def encode(self, clips: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """Scaled latents (B x T x c x h x w) of clips (B x T x 3 x H x W in [-1, 1]): one
        encoder pass over the B * T frames, then a draw from each frame's posterior."""
        from diffusers.models.vae import DiagonalGaussianDistribution
        frames = clips.reshape(-1, *clips.shape[-3:])
        posterior = DiagonalGaussianDistribution(self.moments(frames).float())
        latents = posterior.sample(generator) * self.scaling_factor
        return latents.view(*clips.shape[:-3], *latents.shape[1:])

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Frames (N x 3 x H x W, about [-1, 1]) of scaled latents (N x c x h x w)."""
        return self.vae.decode(latents / self.scaling_factor).sample

    def extra_repr(self) -> str:
        return (f'channels={self.channels}, factor={self.factor}, '
                f'scaling_factor={self.scaling_factor:.5f}, '
                f'fingerprint={self.fingerprint[:12]}, cache_dir={self.cache_dir!r}')

"""Fit a small diffusers ``AutoencoderKL`` on a dataset's frames, for latent training where no
pretrained autoencoder fits the data (the synthetic hands): reconstruction (MSE) plus a small
KL term, as latent diffusion's first stage without its perceptual and adversarial terms
(they need pretrained networks). Used by tools/train_autoencoder.py and by
``model.autoencoder.train_if_missing``."""
import json
import math
import os.path as osp
import time
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..fileio import write_folder
from ..images import to_unit_range
from ..registry import mmagic_scope

#: what the fit writes next to the weights
REPORT = 'fit.json'

#: a small f = 2 autoencoder (64 px frames -> 4 x 32 x 32 latents). Measured on the synthetic
#: hands, 800 steps: f = 4 ([16, 32, 32], 4 x 16 x 16 latents) reconstructs held-out frames at
#: 21.6 dB and loses the fingers; this one at 26.8 dB keeps them (32.3 dB on train frames).
SMALL_AUTOENCODER = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=['DownEncoderBlock2D'] * 2,
    up_block_types=['UpDecoderBlock2D'] * 2,
    block_out_channels=[32, 32],
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=8)


def load_frames(dataset: dict, max_frames: int, seed: int) -> Tensor:
    """Up to ``max_frames`` frames (uint8, N x 3 x H x W) of the dataset config ``dataset``
    (any of our datasets: every frame of each sample), a random subset when it has more."""
    from mmagic.registry import DATASETS
    with mmagic_scope():
        data = DATASETS.build(dataset)
    if len(data) == 0:
        raise ValueError(f'the autoencoder\'s dataset ({dataset.get("data_root")}, split '
                         f'{dataset.get("split")}) has no samples')
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    frames, count = [], 0
    for i in order.tolist():
        clip = data[i]['inputs']
        clip = clip[:, None] if clip.dim() == 3 else clip  # T x 3 x H x W
        frames.append(clip.reshape(-1, *clip.shape[-3:]))
        count += frames[-1].shape[0]
        if count >= max_frames:
            break
    return torch.cat(frames)[:max_frames]


#: the six orders of the RGB channels
CHANNEL_ORDERS = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


def augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Each frame with its RGB channels in a random order and, half the time, mirrored: a
    small dataset has few colours, and an autoencoder fitted on them alone reproduces
    the colours it saw rather than the ones it is given (measured on the synthetic hands:
    held-out PSNR 15.4 dB without, against 29.8 dB on the training frames)."""
    n = x.shape[0]
    order = CHANNEL_ORDERS[torch.randint(6, (n, ), generator=generator)]
    x = torch.gather(x, 1, order[:, :, None, None].expand_as(x))
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


@torch.no_grad()
def reconstruction_psnr(vae, frames: Tensor, batch_size: int = 64) -> float:
    """PSNR (dB, 0..255 frames) of the decoded posterior means of uint8 frames."""
    sq, n = 0.0, 0
    for start in range(0, len(frames), batch_size):
        x = to_unit_range(frames[start:start + batch_size])
        recon = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        sq += float(((recon - x) * 127.5).pow(2).sum())
        n += x.numel()
    return 10 * math.log10(255.0**2 / (sq / n))


@torch.no_grad()
def latent_scaling_factor(vae, frames: Tensor, batch_size: int = 64) -> float:
    """1 / the standard deviation of posterior draws of ``frames``: latents of unit
    variance, as the diffusion schedule assumes (latent diffusion's rescaling)."""
    draws = [vae.encode(to_unit_range(frames[s:s + batch_size])).latent_dist.sample()
             for s in range(0, len(frames), batch_size)]
    return float(1.0 / torch.cat(draws).float().std())


def fit_autoencoder(out: str,
                    dataset: dict,
                    autoencoder: Optional[dict] = None,
                    iters: int = 1500,
                    batch_size: int = 32,
                    lr: float = 1e-3,
                    kl_weight: float = 1e-6,
                    max_frames: int = 4096,
                    augment_colours: bool = True,
                    seed: int = 0,
                    log_interval: int = 250) -> dict:
    """Fit an ``AutoencoderKL(**autoencoder)`` (default :data:`SMALL_AUTOENCODER`) on the
    frames of ``dataset`` (a dataset config; its val split, the same config with
    ``split='val'``, gives the held-out PSNR), set its ``scaling_factor`` from the train
    latents, and save it to ``out`` (``save_pretrained``, with the report ``fit.json``).
    Returns the report."""
    from diffusers import AutoencoderKL
    torch.manual_seed(seed)
    start = time.time()
    train = load_frames(dict(dataset, split='train'), max_frames, seed)
    val = load_frames(dict(dataset, split='val', test_mode=True), max_frames, seed)
    vae = AutoencoderKL(**(autoencoder or SMALL_AUTOENCODER))
    optim = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=lr, total_steps=iters,
                                                pct_start=0.05)
    gen = torch.Generator().manual_seed(seed)
    vae.train()
    for it in range(1, iters + 1):
        x = to_unit_range(train[torch.randint(len(train), (batch_size, ), generator=gen)])
        if augment_colours:
            x = augment(x, gen)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        rec, kl = F.mse_loss(recon, x), posterior.kl().mean() / x[0].numel()
        loss = rec + kl_weight * kl
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f'the autoencoder fit diverged at step {it} (loss {loss})')
        if log_interval and it % log_interval == 0:
            print(f'autoencoder fit {it}/{iters}: mse {rec.item():.5f}, kl {kl.item():.3f}',
                  flush=True)
    vae.eval()
    vae.register_to_config(scaling_factor=latent_scaling_factor(vae, train[:1024]))
    report = dict(
        psnr_train=round(reconstruction_psnr(vae, train[:1024]), 2),
        psnr_val=round(reconstruction_psnr(vae, val[:1024]), 2),
        scaling_factor=round(float(vae.config.scaling_factor), 5),
        num_train_frames=len(train), num_val_frames=len(val), frame_size=list(train.shape[-2:]),
        latent_shape=[int(vae.config.latent_channels)] + [
            s // 2**(len(vae.config.block_out_channels) - 1) for s in train.shape[-2:]],
        iters=iters, batch_size=batch_size, lr=lr, kl_weight=kl_weight,
        augment_colours=augment_colours, seed=seed,
        data_root=dataset.get('data_root'), seconds=round(time.time() - start, 1))
    vae.save_pretrained(out, safe_serialization=True)
    with open(osp.join(out, REPORT), 'w') as f:
        json.dump(report, f, indent=2)
    return report


def ensure_autoencoder(path: str, replace: bool = False, **fit) -> str:
    """Fit the autoencoder into ``path`` (:func:`fit_autoencoder` with ``fit``) unless the
    folder exists (``replace``: fit it again; the old one stays until the new one is
    complete). It is written to a temporary sibling folder renamed into place, so a crashed
    or concurrent fit (several ranks) never leaves a half-written autoencoder."""
    def fit_into(tmp):
        report = fit_autoencoder(tmp, **fit)
        print(f'autoencoder fitted into {path}: reconstruction PSNR {report["psnr_val"]} dB '
              f'(val frames), {report["seconds"]} s', flush=True)

    write_folder(path, fit_into, 'config.json', replace=replace)
    return path

"""The sampler against the textbook: a wrong reverse process (or one that adds noise) fails."""
import torch
from mmagic.registry import MODELS

TINY_UNET = dict(type='DenoisingUnet', image_size=16, base_channels=16,
                 resblocks_per_downsample=1, channels_cfg=[1, 2], attention_res=[],
                 num_timesteps=50, norm_cfg=dict(type='GN', num_groups=8),
                 output_cfg=dict(mean='eps', var='fixed'))


def test_ddpm_sampling_is_the_textbook_ancestral_sampler():
    """Ho et al. 2020, Algorithm 2, written out on the same network, schedule and noise:
    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z with
    sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t)."""
    model = MODELS.build(dict(type='TemporalDiffusionModel', unet=TINY_UNET,
                              diffusion_scheduler=dict(type='DDPMScheduler',
                                                       num_train_timesteps=50,
                                                       prediction_type='epsilon',
                                                       clip_sample=False))).eval()
    torch.manual_seed(0)
    for p in model.unet.parameters():  # a network whose output is not 0
        p.data.normal_(0, 0.05)
    seeds, shape = (3, 4), (3, 16, 16)

    def gens():
        return [torch.Generator().manual_seed(s) for s in seeds]
    g = gens()
    noise = torch.stack([torch.randn(shape, generator=gi) for gi in g])
    ours = model.sample(noise, 50, 'ddpm', generator=g)

    betas = model.scheduler.betas.double()
    abar = torch.cumprod(1 - betas, 0)
    g = gens()
    x = torch.stack([torch.randn(shape, generator=gi) for gi in g]).double()
    with torch.no_grad():
        for t in range(49, -1, -1):
            eps = model.denoise(x.float(), torch.full((2, ), t)).double()
            x = (x - betas[t] / (1 - abar[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
            if t > 0:
                sigma = (betas[t] * (1 - abar[t - 1]) / (1 - abar[t])).sqrt()
                x = x + sigma * torch.cat([torch.randn((1, ) + shape, generator=gi) for gi in g])
    assert torch.allclose(ours, x.clamp(-1, 1).float(), atol=1e-4)
    assert ours.std() > 0.1  # not a trivial agreement of two constant outputs

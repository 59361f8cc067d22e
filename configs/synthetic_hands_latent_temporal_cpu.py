# The temporal recipe in latent space on 2 CPU cores: the synthetic hands at their native 64 px,
# encoded by a small frozen autoencoder (f = 2: 4 x 32 x 32 latents) that is fitted into
# data/autoencoders on first use (a few minutes; reconstruction PSNR in its fit.json; or
# beforehand: python tools/train_autoencoder.py configs/synthetic_hands_latent_temporal_cpu.py).
# The denoiser, the schedule and the loss are the pixel recipe's, at the latents' 32 x 32: the
# pixel recipe's cost per step, for images of twice its resolution. Each training frame's
# posterior is cached under data/latent_cache on first use (later steps skip the encoder).
# Measurements: docs/latent.md and docs/results.md.
_base_ = ['./synthetic_hands_temporal_cpu.py']

resolution = 64  # pixel frames (the generator's size): what the metrics and the grids see
train_dataloader = dict(dataset=dict(frame_size=resolution))  # 16 pairs, as in pixel space
val_dataloader = dict(dataset=dict(frame_size=resolution))
test_dataloader = val_dataloader

autoencoder_dir = 'data/autoencoders/synthetic_hands_kl_f2'
model = dict(
    unet=dict(image_size=resolution // 2, in_channels=4),  # the latents' size and channels
    # latents are not bounded to [-1, 1]: no clipping of the predicted x0 when sampling
    diffusion_scheduler=dict(clip_sample=False),
    autoencoder=dict(
        type='AutoencoderKL',  # diffusers' model through MMagic's registry
        from_pretrained=autoencoder_dir,
        # fit the small autoencoder (vidreg_mm.models.autoencoder_fit) when the folder is missing
        train_if_missing=dict(
            dataset=dict(type='VideoFramePairDataset', data_root=_base_.data_root,
                         pipeline=_base_.frame_pipeline,
                         frame_size=resolution, pair_mode=False,
                         generate_if_missing=_base_.synthetic),
            iters=600, batch_size=32, lr=2e-3)),
    latent_cache_dir='data/latent_cache/synthetic_hands')

# HanCo, temporal recipe in latent space, 8 GPUs, 256 px frames:
#     tools/dist_train.sh configs/handco_temporal_latent.py 8 [--amp]
# The frames are encoded by Stable Diffusion's KL autoencoder (f = 8: 4 x 32 x 32 latents),
# frozen, loaded from a local folder: nothing is downloaded at run time. Get it once, on a
# machine with network access, into data/autoencoders/sd-vae-ft-mse (docs/latent.md):
#     huggingface-cli download stabilityai/sd-vae-ft-mse --local-dir data/autoencoders/sd-vae-ft-mse
# (config.json with scaling_factor 0.18215, and the weights). Any AutoencoderKL folder works.
# The denoiser is the pixel recipe's ADM-style DenoisingUnet at the latents' 32 x 32; each
# frame's posterior is cached on first use under work_dirs/latent_cache (keyed by the frame's
# pixels and the autoencoder's weights), so later epochs skip the encoder.
_base_ = ['./handco_temporal.py']

resolution = 256  # pixel frames: what the metrics and the sample grids see
train_dataloader = dict(dataset=dict(frame_size=resolution))
val_dataloader = dict(dataset=dict(frame_size=resolution))
test_dataloader = val_dataloader

model = dict(
    unet=dict(
        image_size=resolution // 8,  # the latents' size and channels
        in_channels=4,
        channels_cfg=[1, 2, 3, 4],
        attention_res=[16, 8]),
    diffusion_scheduler=dict(clip_sample=False),  # latents are not bounded to [-1, 1]
    autoencoder=dict(type='AutoencoderKL',
                     from_pretrained='data/autoencoders/sd-vae-ft-mse'),
    latent_cache_dir='work_dirs/latent_cache/handco_256')

val_evaluator = dict(metrics=dict(
    fid_train=dict(real_stats_file='work_dirs/fid_stats/handco_train_256.npz'),
    fid_val=dict(real_stats_file='work_dirs/fid_stats/handco_val_256.npz')))
test_evaluator = val_evaluator

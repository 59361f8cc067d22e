# The temporal recipe shrunk to minutes on 2 CPU cores, on the synthetic hand videos
# (generated into data/synthetic_hands on first use): DenoisingUnet with base_channels 32 at
# 32 px, 16 pairs (32 frames) per step. Its time and figures: README and docs/results.md.
_base_ = ['./_base_/datasets/synthetic_hands.py', './_base_/cpu.py']

model = dict(unet=dict(image_size=_base_.resolution))  # 32 px, the data's resolution
train_dataloader = dict(batch_size=16, num_workers=1)  # 16 pairs = 32 frames per step
train_cfg = dict(max_iters=1500, val_interval=1500)  # FID-train and FID-val at the end
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100)]
default_hooks = dict(ema=dict(momentum=0.005))  # ~200-iteration horizon

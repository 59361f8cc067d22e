# The temporal recipe shrunk to minutes on 2 CPU cores, on the synthetic hand videos
# (generated into data/synthetic_hands on first use): DenoisingUnet with base_channels 32 at
# 32 px, 16 pairs (32 frames) per step. Its time and figures: README and docs/results.md.
_base_ = [
    './_base_/datasets/synthetic_hands.py', './_base_/models/temporal_ddpm.py',
    './_base_/schedules/iter_adamw.py', './_base_/evaluation/fid.py',
    './_base_/default_runtime.py'
]

model = dict(unet=dict(image_size=_base_.resolution))  # 32 px, the data's resolution
train_dataloader = dict(batch_size=16, num_workers=1)  # 16 pairs = 32 frames per step
train_cfg = dict(max_iters=1500, val_interval=1500)  # FID-train and FID-val at the end
# lr 1e-3 for a small network on a short budget (why: docs/results.md, "How the defaults
# were chosen")
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100)]

# 256 generated samples (50 DDIM steps), shared by FID, KID, diversity (precision, recall,
# coverage; against all real frames) and roughness, against the train and the val frames.
val_evaluator = dict(metrics=dict(
    fid_train=dict(fake_nums=256), fid_val=dict(fake_nums=256),
    kid_train=dict(fake_nums=256), kid_val=dict(fake_nums=256),
    diversity_train=dict(fake_nums=256, real_nums=-1),
    diversity_val=dict(fake_nums=256, real_nums=-1),
    roughness=dict(fake_nums=256)))
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=500, max_keep_ckpts=2),
    ema=dict(momentum=0.005))  # ~200-iteration horizon
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))

# HanCo, temporal recipe, 8 GPUs: tools/dist_train.sh configs/handco_temporal.py 8 [--amp]
# - 128 px: HanCo's 224 px frames resized; fine finger articulation is still visible.
# - ADM-style DenoisingUnet (128 base channels, 2 res blocks per level, attention at 16/8 px).
# - 32 pairs (64 frames) per GPU, 512 frames per step on 8 GPUs; the baseline uses 64 single
#   frames per GPU, the same frames per step.
# - 200k steps with EMA 0.9999; the paper's claim is reaching the baseline's FID in under half
#   the steps, so evaluation every 10k steps traces the convergence curve.
_base_ = [
    './_base_/datasets/handco.py', './_base_/models/temporal_ddpm.py',
    './_base_/schedules/iter_adamw.py', './_base_/evaluation/fid.py',
    './_base_/default_runtime.py'
]

# 128 px: the resolution of the pipeline and of the model, set once here.
resolution = 128
train_dataloader = dict(dataset=dict(frame_size=resolution))  # 32 pairs per GPU (handco.py)
val_dataloader = dict(dataset=dict(frame_size=resolution))
test_dataloader = val_dataloader

model = dict(
    unet=dict(
        image_size=resolution,
        base_channels=128,
        resblocks_per_downsample=2,
        channels_cfg=[1, 1, 2, 3, 4],
        attention_res=[16, 8],
        num_heads=4,
        dropout=0.1,
        norm_cfg=dict(type='GN', num_groups=32)))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
train_cfg = dict(max_iters=200000, val_interval=10000)
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=5000)]

# FID and KID in the FID Inception's features (10k generated samples) against the train and
# val frames every 10k steps (docs/evaluation.md). Real statistics of FID are cached.
val_evaluator = dict(metrics=dict(
    fid_train=dict(fake_nums=10000, real_stats_file='work_dirs/fid_stats/handco_train_128.npz'),
    fid_val=dict(fake_nums=10000, real_stats_file='work_dirs/fid_stats/handco_val_128.npz'),
    kid_train=dict(fake_nums=10000), kid_val=dict(fake_nums=10000),
    diversity_train=dict(fake_nums=10000), diversity_val=dict(fake_nums=10000),
    roughness=dict(fake_nums=10000)))
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(interval=10000, max_keep_ckpts=5),
    sample_grid=dict(interval=10000, num_samples=64, num_steps=100))

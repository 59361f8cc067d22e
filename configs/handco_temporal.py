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

resolution = 128
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

train_dataloader = dict(batch_size=32, num_workers=8)  # pairs per GPU
optim_wrapper = dict(optimizer=dict(lr=1e-4))
train_cfg = dict(max_iters=200000, val_interval=10000)
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=5000)]

# Inception FID (10k generated samples) against the train and val frames every 10k steps;
# the Inception file must be local (docs/evaluation.md). Real statistics are cached.
inception = 'checkpoints/inception-2015-12-05.pt'
val_evaluator = dict(metrics=[
    dict(type='FrameFID', prefix='FID-train', real_split='train', fake_nums=10000,
         inception_path=inception, inception_pkl='work_dirs/fid_stats/handco_train_128.pkl'),
    dict(type='FrameFID', prefix='FID-val', fake_nums=10000, inception_path=inception,
         inception_pkl='work_dirs/fid_stats/handco_val_128.pkl'),
    dict(type='FrameDiversity', prefix='Diversity-train', real_split='train', fake_nums=10000,
         real_nums=10000, inception_path=inception),
    dict(type='FrameDiversity', prefix='Diversity-val', fake_nums=10000, real_nums=10000,
         inception_path=inception),
])
test_evaluator = val_evaluator

default_hooks = dict(checkpoint=dict(interval=10000, max_keep_ckpts=5))
custom_hooks = [
    dict(type='EMAHook', momentum=0.0001, priority='ABOVE_NORMAL'),
    dict(type='SampleGridHook', interval=10000, num_samples=64, num_steps=100, sampler='ddim'),
    dict(type='WeightsOnlyCheckpointHook'),
    dict(type='RandomStateHook'),
]

# The articulation recipe at GPU scale: 64 px (the data's own resolution), a wider network,
# 64 pairs (128 frames) per step; what benchmarks/gpu_session.sh trains for its short
# convergence run (baseline and temporal side by side on one GPU).
_base_ = ['./synthetic_hands_articulation_temporal_cpu.py']

resolution = 64
train_dataloader = dict(batch_size=64, num_workers=4, dataset=dict(frame_size=resolution))
val_dataloader = dict(batch_size=250, dataset=dict(frame_size=resolution))
test_dataloader = val_dataloader
model = dict(unet=dict(image_size=resolution, base_channels=64, channels_cfg=[1, 2, 2, 2],
                       attention_res=[16, 8]))
optim_wrapper = dict(optimizer=dict(lr=3e-4))
train_cfg = dict(max_iters=2000, val_interval=500)
env_cfg = dict(cudnn_benchmark=True, dist_cfg=dict(backend='nccl'))

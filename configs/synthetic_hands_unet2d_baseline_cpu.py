# Baseline of synthetic_hands_unet2d_temporal_cpu.py: the same UNet2DModel from random
# weights, independent single frames, lambda = 0, at equal frames per step (32 frames against
# 16 pairs). The from-scratch reference of the fine-tuning study (benchmarks/finetune.py).
_base_ = ['./synthetic_hands_unet2d_temporal_cpu.py']

train_dataloader = dict(batch_size=32, dataset=dict(pair_mode=False))
model = dict(loss=dict(lambda_reg=0.0))

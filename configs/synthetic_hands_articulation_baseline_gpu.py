# Baseline of synthetic_hands_articulation_temporal_gpu.py: 128 single frames per step,
# lambda = 0.
_base_ = ['./synthetic_hands_articulation_temporal_gpu.py']

train_dataloader = dict(batch_size=128, dataset=dict(pair_mode=False))
model = dict(loss=dict(lambda_reg=0.0))

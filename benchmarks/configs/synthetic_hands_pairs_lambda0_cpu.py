# Control of synthetic_hands_shared_noise_temporal_cpu.py: the same pairs with shared timestep
# and noise, the regulariser off (lambda = 0): against that recipe it isolates the pair term,
# against the baseline the drawing of frames in pairs (docs/results.md).
_base_ = ['./synthetic_hands_shared_noise_temporal_cpu.py']

model = dict(loss=dict(lambda_reg=0.0))

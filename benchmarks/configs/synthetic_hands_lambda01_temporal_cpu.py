# synthetic_hands_shared_noise_temporal_cpu.py with lambda = 0.1 instead of 0.3 (an
# exploration, docs/results.md).
_base_ = ['./synthetic_hands_shared_noise_temporal_cpu.py']

model = dict(loss=dict(lambda_reg=0.1))

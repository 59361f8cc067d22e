# synthetic_hands_shared_noise_temporal_cpu.py (the former default) with a smaller regulariser
# weight (lambda = 0.1 instead of 0.3): an exploration of whether a weaker pair term keeps the
# pairs' benefit and removes the cost measured at lambda = 0.3 (docs/results.md). Not a default.
_base_ = ['./synthetic_hands_shared_noise_temporal_cpu.py']

model = dict(loss=dict(lambda_reg=0.1))

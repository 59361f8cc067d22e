# Control of synthetic_hands_indep_noise_temporal_cpu.py: the same pairs, one timestep per pair
# and one noise draw per frame, the regulariser off (lambda = 0). Against that recipe it
# isolates the pair term; against the baseline, drawing frames in pairs that share a timestep
# (docs/results.md).
_base_ = ['./synthetic_hands_indep_noise_temporal_cpu.py']

model = dict(loss=dict(lambda_reg=0.0))

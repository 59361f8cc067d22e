# The CPU recipe as it was before the ablation on seed 1 chose one noise draw per frame: both
# frames of a pair share the timestep and the noise (x_t^a - x_t^b = sqrt(a_t) (x0^a - x0^b)).
# benchmarks/results/convergence.json was made with it (docs/results.md).
_base_ = ['./synthetic_hands_temporal_cpu.py']

model = dict(loss=dict(share_noise=True))

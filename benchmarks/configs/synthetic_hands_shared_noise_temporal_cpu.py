# The CPU recipe with its former default: both frames of a pair share the timestep and the
# noise (x_t^a - x_t^b = sqrt(a_t) (x0^a - x0^b)). benchmarks/results/convergence.json was
# made with it (docs/results.md).
_base_ = ['../../configs/synthetic_hands_temporal_cpu.py']

model = dict(loss=dict(share_noise=True))

# The flow-matching recipe with one noise draw per pair (the default when it was first
# measured): benchmarks/results/convergence_flow.json (docs/results.md).
_base_ = ['../../configs/synthetic_hands_flow_temporal_cpu.py']

model = dict(loss=dict(share_noise=True))

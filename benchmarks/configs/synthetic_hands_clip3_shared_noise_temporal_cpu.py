# The clip recipe (three frames of one video) with one noise draw per clip, as it was
# measured: benchmarks/results/convergence_clip3.json (docs/results.md).
_base_ = ['../../configs/synthetic_hands_clip3_temporal_cpu.py']

model = dict(loss=dict(share_noise=True))

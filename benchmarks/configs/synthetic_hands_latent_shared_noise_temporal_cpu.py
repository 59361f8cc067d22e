# The latent CPU recipe with one noise draw per pair, as it was measured:
# benchmarks/results/convergence_latent.json (docs/results.md).
_base_ = ['../../configs/synthetic_hands_latent_temporal_cpu.py']

model = dict(loss=dict(share_noise=True))

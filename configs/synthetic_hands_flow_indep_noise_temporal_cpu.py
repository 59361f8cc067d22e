# Flow matching with one noise draw per frame (the DDPM recipe's default since the ablation,
# docs/results.md), one t per pair: the regulariser compares the two frames' velocity errors.
# The flow config itself keeps shared noise, with which it was measured.
_base_ = ['./synthetic_hands_flow_temporal_cpu.py']

model = dict(loss=dict(share_noise=False))

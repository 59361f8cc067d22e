# Control of the CPU recipe (one timestep per pair, one noise draw per frame) with the
# regulariser off (lambda = 0): against the recipe it isolates the pair term, against the
# baseline the drawing of frames in pairs that share a timestep (docs/results.md).
_base_ = ['../../configs/synthetic_hands_temporal_cpu.py']

model = dict(loss=dict(lambda_reg=0.0))

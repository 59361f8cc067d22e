# synthetic_hands_clip3_shared_noise_temporal_cpu.py with the regulariser on every two frames
# of a clip (1-2, 2-3 and 1-3) instead of consecutive frames only:
# benchmarks/results/convergence_clip3_allpairs.json (docs/results.md).
_base_ = ['./synthetic_hands_clip3_shared_noise_temporal_cpu.py']

model = dict(loss=dict(clip_pairs='all'))

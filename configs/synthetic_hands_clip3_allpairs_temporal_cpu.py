# Clips of three frames with the regulariser on every two frames of a clip (1-2, 2-3 and
# 1-3), against synthetic_hands_clip3_temporal_cpu.py, which compares consecutive frames
# only (docs/results.md).
_base_ = ['./synthetic_hands_clip3_temporal_cpu.py']

model = dict(loss=dict(clip_pairs='all'))

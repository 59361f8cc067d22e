# The CPU recipe on clips of three frames of one video: the dataset draws two distinct
# partners of each anchor within offset_range (in time order), the three frames share t, and
# the regulariser compares consecutive frames (model.loss.clip_pairs='all' compares every
# two). 11 clips = 33 frames per step, the nearest to the pair recipe's 32. Measurements:
# docs/results.md.
_base_ = ['./synthetic_hands_temporal_cpu.py']

train_dataloader = dict(batch_size=11, dataset=dict(num_frames=3))

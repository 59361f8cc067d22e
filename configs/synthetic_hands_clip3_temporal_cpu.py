# The CPU recipe on clips of three frames of one video: the dataset draws two distinct
# partners of each anchor within offset_range (in time order), all three frames share t and
# eps, and the regulariser compares consecutive frames (model.loss.clip_pairs='all' compares
# every two). 11 clips = 33 frames per step, the nearest to the pair recipe's 32.
_base_ = ['./synthetic_hands_temporal_cpu.py']

train_dataloader = dict(batch_size=11, dataset=dict(num_frames=3))
# measured with shared noise, the default then (docs/results.md)
model = dict(loss=dict(clip_pairs='consecutive', share_noise=True))

# Synthetic hands where finger articulation is the signal (make_synthetic_hands.py --preset
# articulation): one fixed camera facing the palm, a plain background, one skin tone, no
# object, the hand filling the frame; the joint angles follow the same smooth trajectories
# as the default data's. Written to data_root on first use (80 sequences, 2 s).
#
# 64 train and 16 val sequences (val_fraction 0.2) of 32 frames: 2048 train frames, as many
# as the default data holds (32 sequences x 2 cameras), so a recipe's budget is comparable;
# 512 val frames of 16 hands never seen in training, so FID-val measures generalisation to
# new sequences rather than new views of seen ones. Frames are written at 64 px and read at
# the recipe's frame_size (32 px on CPU), where the fingers stay visible
# (docs/data.md, "The articulation preset").
_base_ = ['./synthetic_hands.py']

data_root = 'data/synthetic_hands_articulation'
synthetic = dict(preset='articulation', num_sequences=80, num_cameras=1, clip_length=32,
                 size=64, val_fraction=0.2, seed=0)

train_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=synthetic))
val_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=synthetic))
test_dataloader = val_dataloader

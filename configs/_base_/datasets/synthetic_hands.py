# Synthetic articulated-hand videos (HanCo layout), written to data_root on first use.
# Retarget every split to any dataset (HanCo, a folder of videos, a folder of frame folders)
# with --cfg-options data_root=DIR (no synthetic data is written there).
# The source is detected from the folder; an existing folder is never written to.
_base_ = ['./video_pairs.py']

data_root = 'data/synthetic_hands'
synthetic = dict(num_sequences=32, num_cameras=2, clip_length=32, size=64, seed=0)

train_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=synthetic))
val_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=synthetic))
test_dataloader = val_dataloader

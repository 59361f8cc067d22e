# HanCo (multi-view hand-object videos): data_root holds rgb/%04d/cam%d/%08d.jpg and meta.json.
# Sequences are split by meta.json's is_train. Other image folders of HanCo (rgb_merged,
# rgb_homo, rgb_color_auto, rgb_color_sample) are chosen with the dataset key image_dir.
_base_ = ['./synthetic_hands.py']

data_root = 'data/HanCo'
resolution = 128

# Restated, not inherited: MMEngine substitutes a base's variables when it parses the base, so
# the synthetic piece's pipeline keeps its own resolution whatever this file sets.
train_pipeline = [
    dict(type='LoadClipFrames', on_broken='skip'),
    dict(type='Resize', keys=['img'], scale=(resolution, resolution), interpolation='area'),
    dict(type='PackFrames'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    dataset=dict(data_root=data_root, image_dir='rgb', generate_if_missing=None,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    dataset=dict(data_root=data_root, image_dir='rgb', generate_if_missing=None,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

# Synthetic articulated-hand videos (HanCo layout), written to data_root on first use.
# Retarget to any dataset (HanCo, a folder of videos, a folder of frame folders) with
#   --cfg-options train_dataloader.dataset.data_root=DIR val_dataloader.dataset.data_root=DIR \
#                 test_dataloader.dataset.data_root=DIR
# The source is detected from the folder; an existing folder is never written to.
data_root = 'data/synthetic_hands'
resolution = 32
offset_range = (-4, 4)  # signed frame offsets d of a pair; d = 0 is never drawn
synthetic = dict(num_sequences=32, num_cameras=2, num_frames=32, size=64, seed=0)

# No flip by default: a mirrored right hand is a left hand, which the data does not hold.
train_pipeline = [
    dict(type='LoadClipFrames', on_broken='skip'),
    dict(type='Resize', keys=['img'], scale=(resolution, resolution), interpolation='area'),
    dict(type='PackFrames'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=16,  # samples per GPU: pairs in pair mode (32 frames), frames in single mode
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='VideoFramePairDataset',
        data_root=data_root,
        split='train',
        pair_mode=True,
        offset_range=offset_range,
        offset_distribution='uniform',
        generate_if_missing=synthetic,
        pipeline=train_pipeline))

val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VideoFramePairDataset',
        data_root=data_root,
        split='val',
        pair_mode=False,
        offset_range=offset_range,
        generate_if_missing=synthetic,
        test_mode=True,
        pipeline=test_pipeline))

test_dataloader = val_dataloader

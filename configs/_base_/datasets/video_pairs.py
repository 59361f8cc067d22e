# What every video-pair dataset piece shares: pairs of nearby frames of one clip for
# training (VideoFramePairDataset), single frames for evaluation, one pipeline. A dataset
# piece inherits this and sets data_root (and its own keys) in the three loaders.
#
# The resolution is one key, the dataset's frame_size (ResizeFrames reads it), set here or in
# a recipe (configs/handco_temporal.py); recipes give the model the same value
# (model.unet.image_size=_base_.resolution).
resolution = 32
offset_range = (-4, 4)  # signed frame offsets d of a pair; d = 0 is never drawn

# No flip by default: a mirrored right hand is a left hand, which hand data does not hold.
frame_pipeline = [
    dict(type='LoadClipFrames', on_broken='skip'),
    dict(type='ResizeFrames', interpolation='area'),  # to the dataset's frame_size
    dict(type='PackFrames'),
]

# one dataset, seen on the train split as pairs and on the val split as single frames;
# video files are split at their shot cuts (found once, cached; image sources ignore it):
# PySceneDetect's AdaptiveDetector, a frame's change against that of its neighbours
# (docs/data.md: it finds the cuts of moving-camera footage that a fixed threshold misses)
video_clips = dict(type='VideoFramePairDataset', offset_range=offset_range,
                   pipeline=frame_pipeline, frame_size=resolution,
                   shot_detection=dict(detector='adaptive', threshold=2.0),
                   video_decoder='pyav')  # or 'decord' (video files only)
workers = dict(num_workers=2, persistent_workers=True)

train_dataloader = dict(
    batch_size=16,  # samples per process: pairs in pair mode, frames in single-frame mode
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(video_clips, split='train', pair_mode=True, offset_distribution='uniform'),
    **workers)
val_dataloader = dict(
    batch_size=32,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(video_clips, split='val', pair_mode=False, test_mode=True),
    **workers)
test_dataloader = val_dataloader

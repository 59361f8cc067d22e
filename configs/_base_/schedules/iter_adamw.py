optim_wrapper = dict(
    type='OptimWrapper',  # tools/train.py --amp makes it AmpOptimWrapper
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=500),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000)

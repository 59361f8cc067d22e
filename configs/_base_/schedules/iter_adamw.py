optim_wrapper = dict(
    # MMEngine's OptimWrapper that checks the loss before backward: a NaN or infinite loss
    # stops the run ('stop') or skips the step ('skip'); tools/train.py --amp selects its
    # AMP variant, FiniteLossAmpOptimWrapper
    type='FiniteLossOptimWrapper',
    nonfinite_loss='stop',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=500),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000)

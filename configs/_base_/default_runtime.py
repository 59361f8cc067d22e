default_scope = 'mmagic'
custom_imports = dict(imports=['vidreg_mm'], allow_failed_imports=False)

randomness = dict(seed=0, deterministic=False, diff_rank_seed=True)
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

# Every hook by name (MMEngine registers each entry of default_hooks at its priority), so one
# key changes one hook: --cfg-options default_hooks.sample_grid.interval=500
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),  # FID by iteration
    param_scheduler=dict(type='ParamSchedulerHook'),
    # MMEngine's CheckpointHook (its keys) that also gathers every rank's random state where
    # it saves and deletes only in this run's work dir; atomic_local: written to a temporary
    # file, then renamed (never a truncated checkpoint); and best_FID-val_fid_iter_N.pth: the
    # weights of the lowest validation FID so far
    checkpoint=dict(type='ResumableCheckpointHook', interval=1000, by_epoch=False,
                    max_keep_ckpts=3, save_last=True, save_best='FID-val/fid', rule='less',
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # EMA of the weights (MMEngine's hook): swapped in for validation, test and checkpoints
    ema=dict(type='EMAHook', momentum=0.0001, priority='ABOVE_NORMAL'),
    # grids of samples from fixed seeds: <work_dir>/samples/iter_N.png and the visualizer
    # (sampler None: the model's own: 'ddpm' for DDPM objectives, 'euler' for flow matching)
    sample_grid=dict(type='SampleGridHook', interval=-1, num_samples=16, num_steps=50,
                     sampler=None),
    # checkpoints that torch.load reads with weights_only=True, and loaded that way
    weights_only=dict(type='WeightsOnlyCheckpointHook'),
    # every rank's random state in checkpoints, restored on resume; evaluation that leaves
    # the training run's random stream alone and scores the same sample seeds every time
    random_state=dict(type='RandomStateHook'),
    # variance of mini-batch gradients every `interval` iterations (0: off)
    grad_variance=dict(type='GradientVarianceHook', interval=0),
)
custom_hooks = []  # yours

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
# Scalars (losses, learning rate, metrics) and sample grids go to <work_dir>/<timestamp>/
# vis_data: as JSON and PNG files, and as TensorBoard events (tensorboard --logdir work_dirs)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
# Weights & Biases as well (pip install wandb): --cfg-options wandb.enabled=True
# (tools/train.py adds MMEngine's WandbVisBackend with these init_kwargs)
wandb = dict(enabled=False, init_kwargs=dict(project='vidreg-mm'))
log_level = 'INFO'
load_from = None
resume = False

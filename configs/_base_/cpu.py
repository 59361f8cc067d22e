# What the CPU recipes share on 2 cores, whatever their data: the temporal DDPM and its
# AdamW schedule at lr 1e-3 (a small network on a short budget: docs/results.md, "How the
# defaults were chosen"), every metric on 256 generated samples (50 DDIM steps, against the
# train and the val frames; diversity against all real frames), logs every 50 steps,
# checkpoints every 500, gloo. A recipe adds its data (a base of _base_/datasets), its
# resolution, its batch and its budget.
_base_ = [
    './models/temporal_ddpm.py', './schedules/iter_adamw.py', './evaluation/fid.py',
    './default_runtime.py'
]

optim_wrapper = dict(optimizer=dict(lr=1e-3))

val_evaluator = dict(metrics=dict(
    fid_train=dict(fake_nums=256), fid_val=dict(fake_nums=256),
    kid_train=dict(fake_nums=256), kid_val=dict(fake_nums=256),
    diversity_train=dict(fake_nums=256, real_nums=-1),
    diversity_val=dict(fake_nums=256, real_nums=-1),
    roughness=dict(fake_nums=256)))
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=500, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))

# Fine-tuning, every weight: the temporal recipe on the synthetic hands, starting from a
# pretrained UNet2DModel instead of random weights (docs/training.md, "Fine-tuning"). The
# weights come from a local diffusers folder (a UNet2DModel folder, or a pipeline folder such
# as tools/export_diffusers.py writes) or from a checkpoint of a run of this architecture (its
# EMA weights); they must fit the denoiser key for key (model.pretrained.allow_* name the
# exceptions). Nothing is downloaded. By default it starts from the photo-pans pretraining of
# configs/photo_pans_unet2d_baseline_cpu.py (the commands there); another source:
#   python tools/train.py configs/synthetic_hands_finetune_temporal_cpu.py \
#       --cfg-options model.pretrained.path=PATH
_base_ = ['./synthetic_hands_unet2d_temporal_cpu.py']

pretrained = 'work_dirs/pretrained/photo_pans_unet2d'
model = dict(pretrained=dict(path=pretrained, ema=True))
# a fifth of the from-scratch rate, as fine-tuning usually takes (not tuned on this data)
optim_wrapper = dict(optimizer=dict(lr=2e-4))

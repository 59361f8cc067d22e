# Pretraining for the fine-tuning recipes: the UNet2DModel baseline (single frames, lambda = 0)
# on the photo pans, natural photographs under a moving camera. Make the data once, then train
# and export the result as a diffusers pipeline that the fine-tuning configs start from:
#   python tools/data/make_photo_pans.py data/photo_pans
#   python tools/train.py configs/photo_pans_unet2d_baseline_cpu.py
#   python tools/export_diffusers.py configs/photo_pans_unet2d_baseline_cpu.py \
#       work_dirs/photo_pans_unet2d_baseline_cpu/iter_1500.pth \
#       work_dirs/pretrained/photo_pans_unet2d
_base_ = ['./synthetic_hands_unet2d_temporal_cpu.py']

data_root = 'data/photo_pans'
train_dataloader = dict(batch_size=32,  # 32 single frames per step, as the pair recipes' 16 pairs
                        dataset=dict(data_root=data_root, pair_mode=False,
                                     generate_if_missing=None))
val_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=None))
test_dataloader = val_dataloader
model = dict(loss=dict(lambda_reg=0.0))

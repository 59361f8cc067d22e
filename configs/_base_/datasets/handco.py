# HanCo (multi-view hand-object videos): data_root holds rgb/%04d/cam%d/%08d.jpg and meta.json.
# Sequences are split by meta.json's is_train. Other image folders of HanCo (rgb_merged,
# rgb_homo, rgb_color_auto, rgb_color_sample) are chosen with the dataset key image_dir.
_base_ = ['./video_pairs.py']

data_root = 'data/HanCo'

train_dataloader = dict(
    batch_size=32, num_workers=8, dataset=dict(data_root=data_root, image_dir='rgb'))
val_dataloader = dict(
    batch_size=64, num_workers=8, dataset=dict(data_root=data_root, image_dir='rgb'))
test_dataloader = val_dataloader

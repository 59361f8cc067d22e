# The articulation preset's earlier view (camera pitch -0.2, hand scale 0.40, centre 0.70;
# until 2026-12-04): the fingers curl away from the camera, behind the palm. Kept to compare
# how well the pose regressor reads the curls in either view (docs/data.md):
#   python -m benchmarks.pose_regressor \
#       --config benchmarks/configs/articulation_view_earlier.py \
#       --extra-sequences 4000 --epochs 6 \
#       --checkpoint work_dirs/benchmarks/pose_regressor/view_earlier.pth \
#       --out benchmarks/results/pose_regressor_view_earlier.json
_base_ = ['../../configs/synthetic_hands_articulation_temporal_cpu.py']

data_root = 'data/synthetic_hands_articulation_view_earlier'
synthetic = dict(_base_.synthetic, camera_pitch=-0.2, hand_scale=0.40, hand_center_y=0.70)
train_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=synthetic))
val_dataloader = dict(dataset=dict(data_root=data_root, generate_if_missing=synthetic))
test_dataloader = val_dataloader

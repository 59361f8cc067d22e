# HanCo baseline: independent single frames, lambda = 0, 64 frames per GPU (as the temporal
# run's 32 pairs). tools/dist_train.sh configs/handco_baseline.py 8
_base_ = ['./handco_temporal.py']

train_dataloader = dict(batch_size=64, dataset=dict(pair_mode=False))
model = dict(loss=dict(lambda_reg=0.0))

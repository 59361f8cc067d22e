# FID and diversity (precision, recall, coverage, pairwise distance in the same feature space)
# of generated samples against the training frames and the validation frames, in one
# evaluation pass (MMagic's MultiValLoop / MultiTestLoop): all metrics share the generated
# samples; the *-train metrics read the val loader's dataset viewed on the train split.
# Offline by default: RandomConvFeatures needs no download, and its FIDs are comparable only
# with each other. For Inception features set, in each metric,
#   feature_extractor=None, inception_path='checkpoints/inception-2015-12-05.pt'
# (see docs/evaluation.md).
fid_extractor = dict(type='RandomConvFeatures', seed=0, input_size=64)
fid_fake_nums = 1000
val_evaluator = dict(
    type='Evaluator',  # MMagic's evaluator (its docstrings call it MultiEvaluator)
    metrics=[
        dict(type='FrameFID', prefix='FID-train', real_split='train',
             fake_nums=fid_fake_nums, feature_extractor=fid_extractor),
        dict(type='FrameFID', prefix='FID-val', fake_nums=fid_fake_nums,
             feature_extractor=fid_extractor),
        dict(type='FrameDiversity', prefix='Diversity-train', real_split='train',
             fake_nums=fid_fake_nums, real_nums=10000, feature_extractor=fid_extractor),
        dict(type='FrameDiversity', prefix='Diversity-val', fake_nums=fid_fake_nums,
             real_nums=10000, feature_extractor=fid_extractor),
    ])
test_evaluator = val_evaluator
val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')

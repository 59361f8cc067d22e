"""Write clips of a camera panning and zooming over real photographs (the `frames` layout).

Example: python tools/data/make_photo_pans.py data/photo_pans

A second dataset for choosing the regulariser's defaults on other data than the synthetic
hands (benchmarks/ablation.py --data-root data/photo_pans): natural-image statistics and
smooth camera motion, nothing downloaded. The photographs are the colour sample images that
ship inside scikit-image's wheel (a dependency of MMagic's stack); they are read from the
package folder, never through scikit-image's download path. Each clip is a window that moves
in a straight line between two random positions on one photo and changes its size by up to
10%, cropped with sub-pixel precision and resized to ``--size`` px. Split: per photo, the last
``--val-clips`` clips go to val/ (other windows and paths on the same photographs), the rest to
train/. Deterministic for a given ``--seed``.

Edited footage: ``--shots K`` cuts each clip into K shots of (nearly) equal length, the
first on the clip's photograph and each further one on another photograph drawn at random,
so that frames on either side of a cut are not views of one scene; ``--format mp4`` writes
each clip as a video file (the ``videos`` layout, where the dataset's ``shot_detection``
finds the cuts). With the defaults (one shot, PNG frames) the data are those of earlier
versions for the same seed.
"""
import argparse
import os
import os.path as osp
import sys
import time

import numpy as np
from PIL import Image

#: colour photographs bundled with scikit-image (file names in skimage/data)
PHOTOS = ('astronaut.png', 'coffee.png', 'chelsea.png', 'rocket.jpg', 'motorcycle_left.png',
          'hubble_deep_field.jpg', 'retina.jpg', 'ihc.png')


def photo_dir() -> str:
    import skimage.data
    return osp.dirname(skimage.data.__file__)


def load_photo(name: str) -> Image.Image:
    path = osp.join(photo_dir(), name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: the photograph is not in the installed scikit-image; this tool reads '
            f'only the bundled files ({", ".join(PHOTOS)}) and downloads nothing')
    return Image.open(path).convert('RGB')


def window_path(rng: np.random.Generator, width: int, height: int, length: int,
                size_range=(0.3, 0.6), travel_range=(0.25, 1.0)) -> np.ndarray:
    """(length, 4) crop boxes (x0, y0, x1, y1): a square window whose centre moves in a
    straight line by ``travel_range`` x its side and whose side changes by up to 10%,
    inside the photo at every frame."""
    short = min(width, height)
    side0 = rng.uniform(*size_range) * short
    side1 = float(np.clip(side0 * rng.uniform(0.9, 1.1), 8, short))
    angle = rng.uniform(0, 2 * np.pi)
    travel = rng.uniform(*travel_range) * side0
    # a start from which the whole path stays inside: sample, then clamp both ends
    c0 = np.array([rng.uniform(side0 / 2, width - side0 / 2),
                   rng.uniform(side0 / 2, height - side0 / 2)])
    c1 = c0 + travel * np.array([np.cos(angle), np.sin(angle)])
    c1 = np.clip(c1, [side1 / 2, side1 / 2], [width - side1 / 2, height - side1 / 2])
    s = np.linspace(0.0, 1.0, length)[:, None]
    centres = (1 - s) * c0 + s * c1
    sides = ((1 - s) * side0 + s * side1)[:, 0]
    half = sides[:, None] / 2
    return np.concatenate([centres - half, centres + half], axis=1)


def shot_lengths(clip_length: int, shots: int) -> list:
    """Frames per shot: ``clip_length`` split into ``shots`` nearly equal parts."""
    if not 1 <= shots <= clip_length:
        raise ValueError(f'shots={shots} must be in [1, clip_length={clip_length}]')
    base, extra = divmod(clip_length, shots)
    return [base + (1 if k < extra else 0) for k in range(shots)]


def write_clips(out_dir: str, clips_per_photo: int = 8, val_clips: int = 2,
                clip_length: int = 32, size: int = 64, seed: int = 0,
                photos=PHOTOS, shots: int = 1, fmt: str = 'png') -> dict:
    """Write the dataset; returns the number of clips and frames per split (and of cuts,
    with ``shots`` > 1)."""
    if not 0 <= val_clips < clips_per_photo:
        raise ValueError(f'val_clips={val_clips} must be in [0, clips_per_photo='
                         f'{clips_per_photo})')
    if fmt not in ('png', 'mp4'):
        raise ValueError(f"fmt={fmt!r} must be 'png' or 'mp4'")
    lengths = shot_lengths(clip_length, shots)
    if shots > 1 and len(photos) < 2:
        raise ValueError(f'shots={shots} needs at least two photographs to cut between')
    rng = np.random.default_rng(seed)
    images = {name: load_photo(name) for name in photos}
    counts = {'train': [0, 0], 'val': [0, 0]}
    for name in photos:
        stem = osp.splitext(name)[0]
        for k in range(clips_per_photo):
            split = 'val' if k >= clips_per_photo - val_clips else 'train'
            clip = osp.join(out_dir, split, f'{stem}_{k:02d}')
            frames, current = [], name
            for j, length in enumerate(lengths):
                if j:  # a cut: another photograph than the shot before
                    others = [p for p in photos if p != current]
                    current = others[int(rng.integers(len(others)))]
                photo = images[current]
                frames += [photo.resize((size, size), Image.Resampling.LANCZOS,
                                        box=tuple(float(v) for v in box))
                           for box in window_path(rng, *photo.size, length)]
            if fmt == 'mp4':
                from vidreg_mm.datasets import write_video
                os.makedirs(osp.dirname(clip), exist_ok=True)
                write_video(f'{clip}.mp4', frames)
            else:
                os.makedirs(clip)
                for i, frame in enumerate(frames):
                    frame.save(osp.join(clip, f'{i:04d}.png'))
            counts[split][0] += 1
            counts[split][1] += clip_length
    return {split: dict(clips=c, frames=f, **(dict(cuts=c * (shots - 1)) if shots > 1 else {}))
            for split, (c, f) in counts.items()}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out_dir', help='output folder (must not exist yet)')
    p.add_argument('--clips-per-photo', type=int, default=8)
    p.add_argument('--val-clips', type=int, default=2, help='clips per photo in val/')
    p.add_argument('--clip-length', type=int, default=32)
    p.add_argument('--size', type=int, default=64, help='frame size in pixels')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--shots', type=int, default=1,
                   help='shots per clip, each on another photograph (cuts between them)')
    p.add_argument('--format', choices=('png', 'mp4'), default='png',
                   help='a folder of PNG frames per clip, or one mp4 file per clip')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.out_dir.rstrip('/')
    if osp.exists(out_dir):
        sys.exit(f'error: {out_dir} already exists; choose a new folder')
    start = time.time()
    # written next to its place and renamed into it: an interrupted run leaves no half dataset
    from vidreg_mm.fileio import write_folder
    counts = {}
    write_folder(out_dir, lambda tmp: counts.update(write_clips(
        tmp, args.clips_per_photo, args.val_clips, args.clip_length, args.size, args.seed,
        shots=args.shots, fmt=args.format)))
    print(f"wrote {counts['train']['clips']} train clips ({counts['train']['frames']} frames) "
          f"and {counts['val']['clips']} val clips ({counts['val']['frames']} frames) of "
          f'{len(PHOTOS)} photographs, {args.size} px'
          + (f", {args.shots} shots per clip ({counts['train']['cuts']} + "
             f"{counts['val']['cuts']} cuts)" if args.shots > 1 else '')
          + f' ({args.format}), to {out_dir} in {time.time() - start:.1f} s')
    return counts


if __name__ == '__main__':
    main()

"""How many shot cuts each detector of the dataset's ``shot_detection`` finds in edited footage
of a moving camera, and how many it invents in footage without cuts.

    python -m benchmarks.shot_detection            # about 30 s on 2 CPU cores

Writes two datasets of mp4 files with tools/data/make_photo_pans.py into a temporary folder:
clips of 3 shots (48 frames, cuts at frames 16 and 32, each shot a window panning over
another of scikit-image's photographs) and clips of one shot (32 frames, no cut), on other
seeds than the dataset that the edited-footage ablation trains on. Each detector setting runs
through :func:`vidreg_mm.datasets.shots.detect_cuts` on the frames PyAV decodes, as the
dataset does. A found cut counts as right only at the exact frame. Writes
benchmarks/results/shot_detection.json and prints a Markdown table (docs/data.md).
"""
import argparse
import glob
import importlib.util
import os
import os.path as osp
import sys
import tempfile
import time

from vidreg_mm.datasets.loading import open_video
from vidreg_mm.datasets.shots import check_shot_detection, detect_cuts

from .runs import ROOT, machine, write_report

#: name -> the dataset key ``shot_detection`` (without cache_dir)
SETTINGS = {
    "content, threshold 27 (the former default)": dict(detector='content', threshold=27.0),
    'adaptive, threshold 3 (PySceneDetect\'s default)': dict(detector='adaptive', threshold=3.0),
    'adaptive, threshold 2 (the default)': dict(detector='adaptive', threshold=2.0),
}


def photo_pans_tool():
    spec = importlib.util.spec_from_file_location(
        'make_photo_pans', osp.join(ROOT, 'tools', 'data', 'make_photo_pans.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(files: list, truth: list, opts: dict) -> dict:
    """Cuts found against the true ones over the videos."""
    missed = false = 0
    for path in files:
        found = set(detect_cuts(open_video(path), opts))
        missed += len(set(truth) - found)
        false += len(found - set(truth))
    return dict(videos=len(files), true_cuts=len(files) * len(truth), missed=missed,
                false_cuts=false)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--edited-seed', type=int, default=7)
    p.add_argument('--one-shot-seed', type=int, default=9)
    p.add_argument('--clips-per-photo', type=int, default=16)
    p.add_argument('--out', default='benchmarks/results/shot_detection.json')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    tool, start = photo_pans_tool(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        edited, one_shot = osp.join(tmp, 'edited'), osp.join(tmp, 'one_shot')
        tool.write_clips(edited, clips_per_photo=args.clips_per_photo, clip_length=48,
                         seed=args.edited_seed, shots=3, fmt='mp4')
        tool.write_clips(one_shot, clips_per_photo=args.clips_per_photo // 2, clip_length=32,
                         seed=args.one_shot_seed, fmt='mp4')
        rows = []
        for name, setting in SETTINGS.items():
            opts = check_shot_detection(dict(setting, cache_dir=tmp))
            rows.append(dict(
                name=name, shot_detection=setting,
                edited=score(sorted(glob.glob(osp.join(edited, '*', '*.mp4'))), [16, 32], opts),
                one_shot=score(sorted(glob.glob(osp.join(one_shot, '*', '*.mp4'))), [], opts)))
    report = dict(command='python -m benchmarks.shot_detection ' + ' '.join(argv or []),
                  edited=dict(seed=args.edited_seed, clip_length=48, shots=3, size=64,
                              cuts_at=[16, 32]),
                  one_shot=dict(seed=args.one_shot_seed, clip_length=32, size=64),
                  machine=machine(), seconds=round(time.perf_counter() - start, 1),
                  detectors=rows)
    write_report(args.out, report)
    print('| detector | cuts missed (edited) | false cuts (edited) | false cuts (one shot) |')
    print('| --- | ---: | ---: | ---: |')
    for r in rows:
        e, o = r['edited'], r['one_shot']
        print(f"| {r['name']} | {e['missed']} of {e['true_cuts']} | {e['false_cuts']} | "
              f"{o['false_cuts']} in {o['videos']} videos |")
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

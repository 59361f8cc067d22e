"""vidreg-mm: temporal-regularised image diffusion training on video data, an MMagic plugin."""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', name + '.txt')) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def get_version():
    scope = {}
    with open(osp.join(HERE, 'vidreg_mm', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


setup(
    name='vidreg_mm',
    version=get_version(),
    description='Fitting image diffusion models on video datasets: an MMagic plugin',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.9',
    install_requires=(read_requirements('torch') + read_requirements('mmcv') +
                      read_requirements('runtime')),
    extras_require={'tests': read_requirements('tests')},
    license='Apache License 2.0',
    zip_safe=False,
)

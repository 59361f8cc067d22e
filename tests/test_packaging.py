"""The package installs like an OpenMMLab project: ranges that keep a working torch + mmcv,
the configs and tools inside it, console entry points, a license, the lint."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from vidreg_mm import cli

from .conftest import ROOT


def read_requirements(name):
    """As setup.py reads them (importing setup.py would run setup())."""
    with open(osp.join(ROOT, 'requirements', name + '.txt')) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def test_requirements_are_ranges_that_the_tested_stack_satisfies():
    reqs = [Requirement(line) for line in read_requirements('runtime')]
    names = {r.name.lower(): r for r in reqs}
    for name in ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmagic', 'diffusers'):
        assert name in names, name
        # a range, not a pin: an environment with another working version keeps it
        assert not any(s.operator == '==' for s in names[name].specifier), names[name]
    for r in reqs:  # the environment the tests run in (the lock) satisfies every range
        installed = version(r.name).split('+')[0]
        assert r.specifier.contains(installed, prereleases=True), (r, installed)
    python = '.'.join(map(str, sys.version_info[:3]))
    setup_py = open(osp.join(ROOT, 'setup.py')).read()
    assert "install_requires=read_requirements('runtime')" in setup_py
    spec = setup_py.split("python_requires='")[1].split("'")[0]
    assert SpecifierSet(spec).contains(python)


def test_license_file_matches_setup():
    text = open(osp.join(ROOT, 'LICENSE')).read()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    assert "license='Apache License 2.0'" in open(osp.join(ROOT, 'setup.py')).read()


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """A wheel built from a copy of the tracked files (the clone stays as it is)."""
    src = tmp_path_factory.mktemp('src')
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if osp.isfile(osp.join(ROOT, f)) and not f.startswith(('data/', 'work_dirs/')):
            os.makedirs(osp.dirname(src / f), exist_ok=True)
            shutil.copy2(osp.join(ROOT, f), src / f)
    out = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '-q', '-w', str(out), str(src)], check=True, capture_output=True)
    (path, ) = out.glob('vidreg_mm-*.whl')
    return zipfile.ZipFile(path)


def test_the_wheel_ships_configs_tools_and_entry_points(wheel):
    names = set(wheel.namelist())
    for f in ('configs/synthetic_hands_temporal_cpu.py', 'configs/_base_/default_runtime.py',
              'configs/_base_/datasets/video_pairs.py', 'tools/train.py', 'tools/test.py',
              'tools/generate.py', 'tools/export_diffusers.py'):
        assert f'vidreg_mm/.mim/{f}' in names, f
    assert not any(n.startswith(('tests/', 'benchmarks/', 'configs/')) for n in names)
    entry = next(n for n in names if n.endswith('entry_points.txt'))
    text = wheel.read(entry).decode()
    for script in ('vidreg-train', 'vidreg-test', 'vidreg-generate', 'vidreg-export-diffusers',
                   'vidreg-train-autoencoder'):
        assert f'{script} = vidreg_mm.cli:' in text
    license_files = [n for n in names if n.endswith('LICENSE')]
    assert license_files, names


def test_entry_points_find_the_shipped_configs_from_anywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # outside the clone
    shipped = cli.resolve_config('configs/synthetic_hands_temporal_cpu.py')
    assert osp.isfile(shipped) and shipped != 'configs/synthetic_hands_temporal_cpu.py'
    assert cli.resolve_config('synthetic_hands_baseline_cpu.py').endswith(
        'synthetic_hands_baseline_cpu.py')
    with pytest.raises(SystemExit, match='neither a file nor one of the shipped configs.*'
                       'synthetic_hands_temporal_cpu.py'):
        cli.resolve_config('configs/nope.py')
    with pytest.raises(SystemExit) as e:
        cli.run_tool('generate.py', ['--help'])
    assert e.value.code == 0 and 'Generate images from a vidreg-mm checkpoint' in \
        capsys.readouterr().out


@pytest.mark.parametrize('lint', [['ruff', 'check', '.'], ['isort', '--check-only', '.']])
def test_the_code_passes_the_lint(lint):
    proc = subprocess.run([sys.executable, '-m', *lint], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

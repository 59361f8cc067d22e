import io
import subprocess
import sys

import pytest

from vidreg_mm import env_check


def test_env_check_passes_and_prints_versions():
    proc = subprocess.run([sys.executable, '-m', 'vidreg_mm.env_check'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for name in env_check.PACKAGES:
        line = next(line for line in out.splitlines() if line.startswith(name + ' '))
        assert 'missing' not in line, line
    assert out.count('[ ok ]') == len(env_check.CHECKS)
    assert 'environment OK' in out


def test_each_check_reports_what_it_ran():
    assert 'ops run' in env_check.check_torch_pair()
    assert 'compiled ops run' in env_check.check_mmcv_ops()
    assert '8-frame mp4' in env_check.check_decord()
    assert env_check.check_pyav().startswith('pyav ')


def test_failing_check_prints_error_and_fix_and_counts():
    def broken():
        raise RuntimeError('operator torchvision::nms does not exist')

    checks = (env_check.Check('fine', lambda: 'all good', 'nothing'),
              env_check.Check('torch + torchvision', broken, env_check.FIX_TORCH_PAIR))
    out = io.StringIO()
    assert env_check.run_checks(checks, out=out) == 1
    text = out.getvalue()
    assert '[ ok ] fine: all good' in text
    assert '[FAIL] torch + torchvision: RuntimeError: operator torchvision::nms' in text
    assert 'pip install --isolated -r requirements/torch.txt' in text


def test_a_module_the_offline_install_left_out_is_skipped_not_failed(monkeypatch, tmp_path):
    def missing():
        raise ImportError('No module named no_such_decoder')

    checks = (env_check.Check('video', missing, 'install it', 'no_such_decoder'),
              env_check.Check('required', missing, 'install it'))
    monkeypatch.setattr(env_check.sys, 'prefix', str(tmp_path))
    out = io.StringIO()
    assert env_check.run_checks(checks, out=out) == 2  # an ordinary environment: both fail
    (tmp_path / env_check.OFFLINE_MARKER).write_text('left out: no_such_decoder\n')
    out = io.StringIO()
    assert env_check.run_checks(checks, out=out) == 1  # only the required one
    text = out.getvalue()
    assert '[skip] video: no_such_decoder was left out by the offline install' in text
    assert '[FAIL] required' in text
    # a module that is installed is checked, marker or not
    installed = env_check.Check('json', lambda: 'fine', 'x', 'json')
    assert not env_check.left_out_by_offline_install(installed)


def test_main_exits_nonzero_on_failure(monkeypatch, capsys):
    def broken():
        raise ImportError('No module named mmcv._ext')

    monkeypatch.setattr(env_check, 'CHECKS',
                        (env_check.Check('mmcv compiled ops', broken, env_check.FIX_MMCV),))
    assert env_check.main([]) == 1
    out = capsys.readouterr().out
    assert 'No module named mmcv._ext' in out
    assert 'tools/bootstrap.sh' in out and '0 passed, 1 failed' in out


def test_decord_check_fails_when_frames_do_not_match(monkeypatch):
    import decord

    class ShortReader:
        def __init__(self, path, num_threads=1):
            self.path = path

        def __len__(self):
            return 3

    monkeypatch.setattr(decord, 'VideoReader', ShortReader)
    with pytest.raises(RuntimeError, match='decord read 3 frames .* expected 8'):
        env_check.check_decord()

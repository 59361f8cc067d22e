"""The one write-then-rename helper: whole files and folders or nothing."""
import os

import pytest

from vidreg_mm.fileio import atomic_open, atomic_write, write_folder


def test_concurrent_writers_use_their_own_temporary_files_and_the_last_rename_wins(tmp_path):
    path = tmp_path / 'stats.npz'
    with atomic_open(str(path)) as a, atomic_open(str(path)) as b:
        assert a.name != b.name  # no temporary name shared by two writers
        a.write(b'first')
        b.write(b'second')
    assert path.read_bytes() == b'first'  # b closed first, then a renamed over it
    assert os.listdir(tmp_path) == ['stats.npz']


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / 'meta.json'
    atomic_write(str(path), b'old')
    with pytest.raises(RuntimeError, match='killed'):
        with atomic_open(str(path), 'w') as f:
            f.write('half')
            raise RuntimeError('killed')
    assert path.read_bytes() == b'old' and os.listdir(tmp_path) == ['meta.json']
    with pytest.raises(ValueError, match="mode 'w' or 'wb', got 'a'"):
        with atomic_open(str(path), 'a'):
            pass


def make(content):
    def write(folder):
        with open(os.path.join(folder, 'done'), 'w') as f:
            f.write(content)
    return write


def test_write_folder_makes_once_replaces_on_request_and_keeps_the_old_on_failure(tmp_path):
    path = tmp_path / 'autoencoder'
    assert write_folder(str(path), make('one'), 'done')
    assert not write_folder(str(path), make('two'), 'done')  # exists: never touched
    assert (path / 'done').read_text() == 'one'

    def broken(folder):
        make('half')(folder)
        raise RuntimeError('fit crashed')
    with pytest.raises(RuntimeError, match='fit crashed'):
        write_folder(str(path), broken, replace=True)
    assert (path / 'done').read_text() == 'one'
    assert write_folder(str(path), make('three'), replace=True)
    assert (path / 'done').read_text() == 'three'
    assert os.listdir(tmp_path) == ['autoencoder']  # no temporary or old folder left


def test_written_files_get_the_permissions_open_would_give(tmp_path):
    """Temporary files are created 0600; the renamed file must not keep that (a checkpoint
    or statistics file shared on a cluster would be unreadable to the group)."""
    import stat
    old = os.umask(0o022)
    try:
        atomic_write(str(tmp_path / 'a.bin'), b'x')
        os.umask(0o002)
        atomic_write(str(tmp_path / 'b.bin'), b'x')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'a.bin').st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / 'b.bin').st_mode) == 0o664

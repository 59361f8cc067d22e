"""Files and folders written whole or not at all: the one helper for write-then-rename.

Every file the project writes for later reading (checkpoints, FID statistics, the latent
cache, shot cuts, the pose regressor, the synthetic data's index) goes through
:func:`atomic_open` or :func:`atomic_write`: the bytes go to a hidden temporary file of a
unique name in the same folder, which is renamed over the target when complete (atomic on
POSIX), so a reader, a crashed writer or two concurrent writers never see a partial file.
Folders (datasets, a fitted autoencoder) go through :func:`write_folder`.
"""
import contextlib
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Optional


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'wb', fsync: bool = False):
    """A file object for writing ``path`` whole or not at all (see the module docstring):
    renamed into place when the ``with`` block ends, removed if it raises. ``fsync``: flush
    the file and the rename to disk (checkpoints)."""
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', got {mode!r}")
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it (mkstemp: 0600)
        with os.fdopen(fd, mode) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    if fsync:
        _fsync_folder(folder)


def atomic_write(path: str, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that ``path`` never holds a partial file."""
    with atomic_open(path, 'wb', fsync=fsync) as f:
        f.write(data)


def write_folder(path: str, make: Callable[[str], None], complete: Optional[str] = None,
                 replace: bool = False) -> bool:
    """Run ``make(tmp)`` into a temporary sibling folder of ``path`` and rename it into place.

    Without ``replace``, an existing ``path`` is never touched (returns False). A crashed or
    concurrent making (several ranks) never leaves a half-written folder: the first rename
    wins, and the others discard their copy once ``path/complete`` exists (without
    ``complete``, losing the race is an error). With ``replace``, the old folder stays in
    place until the new one is complete. Returns whether this call wrote the folder."""
    if osp.exists(path) and not replace:
        return False
    path = osp.abspath(path)
    parent = osp.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(path)}-', dir=parent)
    old = None
    try:
        make(tmp)
        if replace and osp.exists(path):
            old = tempfile.mkdtemp(prefix=f'.{osp.basename(path)}-old-', dir=parent)
            os.rename(path, osp.join(old, 'folder'))
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(osp.join(old, 'folder'), path)  # the old folder back in place
                raise
            return True
        try:
            os.rename(tmp, path)
        except OSError:
            if complete is None or not osp.isfile(osp.join(path, complete)):
                raise
            return False
    finally:
        for leftover in (tmp, old):
            if leftover and osp.exists(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
    return True


class WorkDirInUse(RuntimeError):
    """Another live process holds the work dir's lock; the message names it."""


#: the lock file of a work dir (its content describes the run that holds it)
LOCK_NAME = '.run.lock'


@contextlib.contextmanager
def work_dir_lock(work_dir: str):
    """Hold ``work_dir`` for one run: an exclusive ``flock`` on ``<work_dir>/.run.lock``,
    whose content says who holds it (pid, host, start, command). The kernel releases the lock
    when its process ends, however it ends, so the file of a dead run is not a lock: the next
    run takes it. A second live run is refused with :class:`WorkDirInUse` naming the first.
    (``flock`` is local to a machine on some network file systems.)"""
    import datetime
    import fcntl
    import json
    import socket
    import sys
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    f = open(path, 'a+')
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or '(no description)'
        f.close()
        raise WorkDirInUse(f'work dir {work_dir} is in use by another run: {holder}. Wait for '
                           'it to end, or give this run another --work-dir') from None
    try:
        f.seek(0)
        f.truncate()
        f.write(json.dumps(dict(pid=os.getpid(), host=socket.gethostname(),
                                started=datetime.datetime.now().isoformat(timespec='seconds'),
                                command=' '.join(sys.argv))) + '\n')
        f.flush()
        yield path
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def user_cache_dir(name: str) -> str:
    """``<root>/<name>``: a folder of the user's cache, ``$VIDREG_CACHE_DIR`` or
    ``~/.cache/vidreg-mm`` (what is found again by key, never a dataset's folder)."""
    root = os.environ.get('VIDREG_CACHE_DIR') or osp.join(osp.expanduser('~'), '.cache',
                                                          'vidreg-mm')
    return osp.join(root, name)

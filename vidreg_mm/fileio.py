"""Folders that are made once and then only read (the synthetic data, a fitted autoencoder)."""
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable


def make_folder_once(path: str, make: Callable[[str], None], complete: str) -> bool:
    """Run ``make(tmp)`` into a temporary sibling folder of ``path`` and rename it into place,
    unless ``path`` exists (it is never touched then). A crashed or concurrent making (several
    ranks) never leaves a half-written folder: the first rename wins, the others discard
    their copy once ``path/complete`` exists. Returns whether this call made the folder."""
    if osp.exists(path):
        return False
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(osp.abspath(path))}-', dir=parent)
    try:
        make(tmp)
        try:
            os.rename(tmp, path)
        except OSError:
            if not osp.isfile(osp.join(path, complete)):
                raise
            return False
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return True

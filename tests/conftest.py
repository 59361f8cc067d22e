import importlib.util
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from vidreg_mm.datasets import generate_synthetic_hands

init_default_scope('mmagic')  # as the Runner does from a config's default_scope

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def load_tool(path: str):
    """A command-line tool of the repository (``'tools/train.py'``) as a module."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f'tool_{name}', osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

@pytest.fixture(scope='session', autouse=True)
def user_cache(tmp_path_factory):
    """The user cache (real features, shot cuts) of this test session, not the machine's:
    no test reads what another session, or a user's run, left there."""
    import os
    folder = str(tmp_path_factory.mktemp('user_cache'))
    old = os.environ.get('VIDREG_CACHE_DIR')
    os.environ['VIDREG_CACHE_DIR'] = folder  # seen by the tools the tests start, too
    yield folder
    if old is None:
        os.environ.pop('VIDREG_CACHE_DIR')
    else:
        os.environ['VIDREG_CACHE_DIR'] = old


TINY = dict(num_sequences=4, num_cameras=2, clip_length=6, size=32, val_fraction=0.25, seed=3)


@pytest.fixture(scope='session')
def handco_root(tmp_path_factory):
    """A tiny synthetic HanCo: 4 sequences (3 train, 1 val) x 2 cameras x 6 frames, 32 px."""
    root = str(tmp_path_factory.mktemp('handco') / 'hands')
    generate_synthetic_hands(root, **TINY)
    return root


@pytest.fixture
def handco_copy(handco_root, tmp_path):
    """A private copy of the tiny HanCo that a test may damage."""
    dst = str(tmp_path / 'hands')
    shutil.copytree(handco_root, dst)
    return dst


@pytest.fixture
def mmlog():
    """Messages logged through MMEngine's current logger during the test."""
    import logging

    from mmengine.logging import MMLogger

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    handler = Collect()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def clip_frames(handco_root, seq, cam):
    folder = osp.join(handco_root, 'rgb', f'{seq:04d}', f'cam{cam}')
    return [cv2.imread(osp.join(folder, f'{t:08d}.jpg')) for t in range(TINY['clip_length'])]


def write_video(path, frames, fps=10):
    """BGR frames (as OpenCV reads them) as an mp4 file."""
    from vidreg_mm.datasets import write_video as write_rgb
    write_rgb(path, [f[..., ::-1] for f in frames], fps)


@pytest.fixture(scope='session')
def videos_root(handco_root, tmp_path_factory):
    """The tiny HanCo's cam0 clips as mp4 files under train/ and val/."""
    root = tmp_path_factory.mktemp('videos')
    for seq in range(TINY['num_sequences']):
        split = 'val' if seq == 3 else 'train'
        (root / split).mkdir(exist_ok=True)
        write_video(str(root / split / f'clip{seq}.mp4'), clip_frames(handco_root, seq, 0))
    return str(root)


@pytest.fixture(scope='session')
def frames_root(handco_root, tmp_path_factory):
    """The tiny HanCo's cam0 clips as frame folders (names that need natural sorting)."""
    root = tmp_path_factory.mktemp('frames')
    for seq in range(TINY['num_sequences']):
        clip = root / f'clip{seq}'
        clip.mkdir()
        for t, frame in enumerate(clip_frames(handco_root, seq, 0)):
            cv2.imwrite(str(clip / f'frame{2 * t}.png'), frame)  # frame10 after frame8
    return str(root)


def sample_indices(dataset, num, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice(len(dataset), num, replace=len(dataset) < num).tolist()

"""Checkpoint files: written atomically, read weights-only, errors that name the file.

- ``AtomicLocalBackend`` (file backend ``'atomic_local'``, set in the configs'
  ``default_hooks.checkpoint.backend_args``): MMEngine serialises a checkpoint in memory
  and hands the bytes to its file backend, whose local ``put`` writes them in place; a kill
  during that write leaves a truncated ``iter_N.pth``. This backend writes to a hidden
  temporary file in the same folder, flushes it to disk and renames it over the target
  (atomic on POSIX): a checkpoint path holds a complete file or nothing.
- :func:`load_local_checkpoint`: ``torch.load`` with ``weights_only=True`` (tensors and
  plain Python data only: nothing in a checkpoint file can run code; our checkpoints need no
  allowlisted classes, see WeightsOnlyCheckpointHook), errors that name the file for a
  missing, truncated, corrupt or unsafe checkpoint, and an explicit opt-in
  (``safe_globals``, torch's allowlist) for older checkpoints that hold numpy or MMEngine
  objects. :func:`weights_only_loading` makes it MMEngine's loader of local paths
  (``load_from``, ``--resume``, ``load_checkpoint``) for the duration of a run: the
  ``WeightsOnlyCheckpointHook`` does so around each run; importing vidreg_mm changes
  nothing.
"""
import contextlib
import glob
import os.path as osp
import re
from importlib import import_module
from typing import Optional, Sequence, Tuple

import torch
from mmengine.fileio import LocalBackend
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader

from ..fileio import atomic_write
from .mmengine_compat import local_checkpoint_loader, register_atomic_backend

#: what --resume needs in a checkpoint (MMEngine's Runner.save_checkpoint writes them)
TRAINING_KEYS = ('meta', 'state_dict', 'optimizer', 'message_hub')


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used; the message names the file."""


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose writes are atomic (see the module docstring)."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj.encode(encoding))


register_atomic_backend(AtomicLocalBackend)


def resolve_globals(names: Sequence[str]) -> list:
    """The objects named ``module.attr`` (e.g. ``numpy.core.multiarray._reconstruct``)."""
    found = []
    for name in names:
        module, _, attr = str(name).rpartition('.')
        try:
            found.append(getattr(import_module(module), attr))
        except (ImportError, AttributeError, ValueError):
            raise ValueError(f'safe_globals: cannot import {name!r} (give module.name)') from None
    return found


def load_local_checkpoint(filename: str, map_location=None, safe_globals: Sequence[str] = ()):
    """``torch.load(weights_only=True)`` of a local file, with errors naming it.

    ``safe_globals``: names of classes and functions the file may hold besides tensors and
    plain data (torch's allowlist), for checkpoints of other OpenMMLab runs; only for files
    you trust."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    try:
        with torch.serialization.safe_globals(resolve_globals(safe_globals)):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        refused = _unsupported_global(str(e))
        if refused:
            names = sorted(set(_unsafe_globals(filename) + list(safe_globals)
                               + [refused.split()[-1]]))
            callables = [n for n in names if not allowlistable(n)]
            if callables:
                raise CheckpointError(
                    f'refusing to load checkpoint {filename}: it names {callables}, '
                    'functions that unpickling would call, which can run any code (besides '
                    f'{[n for n in names if n not in callables]}). A checkpoint of weights '
                    'needs no function; a malicious file does, so none is ever suggested '
                    'here. MMEngine\'s own older checkpoints name builtins.getattr (in their '
                    'HistoryBuffer logs): for such a file that you trust, see "Older OpenMMLab '
                    'checkpoints" in docs/training.md; otherwise do not load it') from None
            raise CheckpointError(
                f'refusing to load checkpoint {filename}: it holds objects other than '
                'tensors and plain Python data, which could run code when unpickled '
                f'(torch.load weights_only=True): {refused}. If you trust this file, allow '
                f'them by name: --cfg-options "default_hooks.weights_only.safe_globals='
                f'[{",".join(names)}]" (docs/training.md)') from None
        raise CheckpointError(f'cannot read checkpoint {filename}: the file is truncated, '
                              f'corrupt or not a torch checkpoint ({reason})') from None


#: functions that pickles of numpy values name to rebuild them (protocol 5: ``_frombuffer``);
#: they build arrays and call nothing else. Classes may be allow-listed (the unpickler builds
#: their instances from plain state); no other function is ever suggested.
ARRAY_BUILDERS = frozenset(f'{package}.{name}' for package, name in (
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer')))
#: packages whose classes an older checkpoint may hold as data (HistoryBuffer, arrays, ...)
DATA_PACKAGES = ('numpy', 'mmengine', 'mmagic', 'collections', 'torch', 'vidreg_mm')


def allowlistable(name: str) -> bool:
    """Whether the refusal may suggest allow-listing global ``name``: a class of
    :data:`DATA_PACKAGES`, or one of :data:`ARRAY_BUILDERS`; never another function
    (``posix.system``, ``builtins.getattr``, ``builtins.eval``, ...) or class."""
    if name in ARRAY_BUILDERS:
        return True
    try:
        (obj, ) = resolve_globals([name])
    except ValueError:
        return False
    return isinstance(obj, type) and name.split('.')[0] in DATA_PACKAGES


def _unsupported_global(message: str) -> Optional[str]:
    """``GLOBAL module.name`` that torch's weights-only unpickler refused, if that failed."""
    match = re.search(r'unsupported (?:global:? )?(GLOBAL \S+)', message, re.IGNORECASE)
    if match:
        return match.group(1)
    match = re.search(r"allowlisted via `add_safe_globals`, but got <class '([^']+)'>", message)
    return f'GLOBAL {match.group(1)}' if match else None


def _unsafe_globals(filename: str) -> list:
    """Every global a checkpoint file names that the weights-only unpickler would refuse."""
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # noqa: BLE001  an old (non-zip) format: the refused name is enough
        return []


@contextlib.contextmanager
def weights_only_loading(safe_globals: Sequence[str] = ()):
    """Within the block, MMEngine loads local checkpoints with :func:`load_local_checkpoint`
    (its loader of local paths is restored afterwards)."""
    previous = local_checkpoint_loader()
    CheckpointLoader.register_scheme(
        prefixes='', force=True,
        loader=lambda filename, map_location=None: load_local_checkpoint(
            filename, map_location, safe_globals))
    try:
        yield
    finally:
        if previous is not None:
            CheckpointLoader.register_scheme(prefixes='', loader=previous, force=True)


def check_training_checkpoint(filename: str, safe_globals: Sequence[str] = ()) -> dict:
    """Load ``filename`` and check that it can be resumed from: an error naming the file
    and the missing parts otherwise. Returns the checkpoint."""
    checkpoint = load_local_checkpoint(filename, 'cpu', safe_globals)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'cannot resume from {filename}: it holds a '
                              f'{type(checkpoint).__name__}, not a training checkpoint')
    missing = [k for k in TRAINING_KEYS if k not in checkpoint]
    if not missing and 'iter' not in checkpoint['meta']:
        missing = ["meta['iter']"]
    if missing:
        raise CheckpointError(
            f'cannot resume from {filename}: not a training checkpoint of MMEngine\'s Runner '
            f'(missing {", ".join(missing)}); to start a new run from its weights use '
            f'--cfg-options load_from={filename}')
    return checkpoint


def state_dict_mismatch(expected: dict, found: dict) -> dict:
    """Keys of ``found`` (a checkpoint's state dict) against ``expected`` (the model's):
    ``missing``, ``unexpected`` and ``mis_shaped`` (``key: checkpoint shape != model
    shape``); all empty when the weights fit the model exactly."""
    found = {re.sub(r'^module\.', '', k): v for k, v in found.items()}
    shape = (lambda v: tuple(v.shape) if hasattr(v, 'shape') else None)  # noqa: E731
    return dict(
        missing=sorted(set(expected) - set(found)),
        unexpected=sorted(set(found) - set(expected)),
        mis_shaped=sorted(f'{k}: {shape(found[k])} != {shape(v)}' for k, v in expected.items()
                          if k in found and shape(found[k]) != shape(v)))


def refuse_mismatch(model: torch.nn.Module, weights: dict, filename: str,
                    flag: str = '') -> None:
    """A :class:`CheckpointError` listing the missing, unexpected and mis-shaped keys when
    ``weights`` (from ``filename``) do not fit ``model`` exactly; ``flag``: the way to load
    what fits anyway, named in the message."""
    diff = state_dict_mismatch(model.state_dict(), weights)
    if any(diff.values()):
        lines = [f'  {kind} ({len(keys)}): {", ".join(keys[:5])}'
                 + (', ...' if len(keys) > 5 else '') for kind, keys in diff.items() if keys]
        raise CheckpointError(
            f'checkpoint {filename} does not match the model of this config:\n'
            + '\n'.join(lines) + '\nIs it a checkpoint of another config? '
            + (f'To load what fits anyway: {flag}' if flag else ''))


def refuse_other_training(expected: dict, checkpoint: dict, filename: str,
                          flag: str = '') -> None:
    """A :class:`CheckpointError` naming each entry of the checkpoint's record of what it was
    trained as (``meta['trained_as']``: objective, prediction type, schedule, latent space,
    frames per clip) that differs from ``expected`` (this config's). Flow-matching and DDPM
    networks share weight names, so the weights alone would load, and be sampled or scored
    with the wrong sampler. A checkpoint without the record (written before it existed) is
    loaded with a warning."""
    found = (checkpoint.get('meta') or {}).get('trained_as') if isinstance(
        checkpoint, dict) else None
    if not expected:
        return
    if found is None:
        print_log(f'checkpoint {filename} holds no record of what it was trained as '
                  '(objective, schedule, latent space): not checked against this config',
                  logger='current', level=30)
        return
    differ = [f'  {k}: checkpoint {found[k]!r}, this config {expected[k]!r}'
              for k in expected if k in found and found[k] != expected[k]]
    if differ:
        raise CheckpointError(
            f'checkpoint {filename} was trained as another model than this config describes:\n'
            + '\n'.join(differ) + '\nUse the config it was trained with'
            + (f'; to load it anyway: {flag}' if flag else ''))


def check_weights_match(model: torch.nn.Module, filename: str,
                        safe_globals: Sequence[str] = (), flag: str = '',
                        trained_as: Optional[dict] = None) -> None:
    """Refuse a checkpoint trained as another model than ``trained_as`` describes
    (:func:`refuse_other_training`), or whose weights do not fit ``model`` key for key and
    shape for shape (MMEngine's ``load_from`` would load what fits and only log the rest):
    see :func:`refuse_mismatch`."""
    checkpoint = load_local_checkpoint(filename, 'cpu', safe_globals)
    weights = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(weights, dict):
        raise CheckpointError(f'checkpoint {filename} holds no state dict')
    refuse_other_training(trained_as or {}, checkpoint, filename, flag)
    refuse_mismatch(model, weights, filename, flag)


def sampling_weights(filename: str, ema: bool = True, safe_globals: Sequence[str] = (),
                     checkpoint: Optional[dict] = None) -> Tuple[dict, str]:
    """The weights to sample with from a checkpoint, and which they are.

    MMEngine's ``EMAHook`` swaps the averaged weights into ``state_dict`` when it saves and
    keeps the trained ones in ``ema_state_dict`` (keys prefixed ``module.``): ``ema=True``
    takes the first, ``ema=False`` the second. A checkpoint of a run without EMA holds only
    the trained weights, which both return (the description says so). ``checkpoint``: the
    file's contents where already loaded."""
    if checkpoint is None:
        checkpoint = load_local_checkpoint(filename, 'cpu', safe_globals)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('state_dict'), dict):
        raise CheckpointError(f'checkpoint {filename} holds no state dict')
    averaged = checkpoint.get('ema_state_dict')
    if not isinstance(averaged, dict):
        return checkpoint['state_dict'], 'the trained weights (the run kept no EMA weights)'
    if ema:
        return checkpoint['state_dict'], 'the EMA weights'
    return ({k[len('module.'):]: v for k, v in averaged.items() if k.startswith('module.')},
            'the trained weights (not the EMA)')


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint that ``--resume`` without a path continues from: the one named in
    ``<work_dir>/last_checkpoint``, or, where that file is missing, empty or names no file,
    the newest ``iter_N.pth`` of the work dir (with a warning); None when there is none."""
    last = osp.join(work_dir, 'last_checkpoint')
    named = open(last).read().strip() if osp.isfile(last) else ''
    if named and osp.isfile(named):
        return named
    ckpts = glob.glob(osp.join(work_dir, 'iter_*.pth'))
    ckpts = sorted((int(m.group(1)), p) for p in ckpts
                   if (m := re.fullmatch(r'iter_(\d+)\.pth', osp.basename(p))))
    if named or osp.isfile(last):
        print_log(f'{last} names {named!r}, which is not a file; '
                  + (f'resuming from the newest checkpoint, {ckpts[-1][1]}' if ckpts
                     else 'and the work dir has no iter_*.pth'), logger='current', level=30)
    return ckpts[-1][1] if ckpts else None

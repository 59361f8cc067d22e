"""Records of finished benchmark runs, committed with the results, so that a study longer
than a session (work dirs do not outlive it) resumes on another machine or checkout.

When a run of a study is complete, :func:`write_record` writes ``DIR/<run>.json`` (its
curves, training seconds, step and evaluation times, and what it was run with: the config,
the fingerprint of the config as resolved, the options and the budget) and
``DIR/<run>_samples.png`` (its sample grid at the last evaluation). A later invocation whose
work dir is gone takes the record in place of the run (:func:`read_record`) when it was run
with the same config, options and budget, and refuses it, naming the record and what
differs, when not: a record of other settings is never mixed into a report silently.
"""
import hashlib
import json
import os.path as osp
import subprocess
from typing import Dict, List, Optional, Sequence

from vidreg_mm.fileio import atomic_write

from .runs import (ROOT, curves, evaluate_missing, evaluation_seconds, machine, seconds_per_step,
                   train, write_report)


def config_fingerprint(config: str) -> str:
    """SHA-256 of the config as MMEngine resolves it (its bases merged), so that an edit of
    the config or of any file it inherits changes it and a reformatting does not; paths
    inside the checkout count from its root, so that another checkout gets the same."""
    from mmengine.config import Config
    resolved = Config.fromfile(config).to_dict()
    text = json.dumps(resolved, sort_keys=True, default=repr).replace(ROOT, '<root>')
    return hashlib.sha256(text.encode()).hexdigest()


def file_fingerprints(inputs: Optional[Dict[str, str]]) -> Dict[str, str]:
    """SHA-256 of each file a run reads besides its config ({name: path}), e.g. the pose
    regressor that scores its samples: of a torch file (``.pth``) its tensors only, with
    their names, so that what else it holds (a training report and its timings) does not
    count; of any other file its bytes."""
    import torch
    out = {}
    for name, path in sorted((inputs or {}).items()):
        digest = hashlib.sha256()
        if path.endswith('.pth'):
            def walk(obj, key=''):
                if isinstance(obj, torch.Tensor):
                    digest.update(key.encode())
                    digest.update(obj.detach().cpu().contiguous().numpy().tobytes())
                elif isinstance(obj, dict):
                    for k in sorted(obj, key=str):
                        walk(obj[k], f'{key}/{k}')
                elif isinstance(obj, (list, tuple)):
                    for i, v in enumerate(obj):
                        walk(v, f'{key}/{i}')
            walk(torch.load(path, map_location='cpu', weights_only=True))
        else:
            with open(path, 'rb') as f:
                digest.update(f.read())
        out[name] = digest.hexdigest()
    return out


def commit() -> Optional[str]:
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def sample_grid(record_path: str) -> str:
    """Where a record keeps its run's last sample grid."""
    return osp.splitext(record_path)[0] + '_samples.png'


def write_record(path: str, config: str, options: List[str], iters: int, work_dir: str,
                 seconds: float, inputs: Optional[Dict[str, str]] = None,
                 extra: Optional[dict] = None) -> dict:
    """Record the complete run of ``work_dir`` (trained with ``config``, ``options`` for
    ``iters`` steps, reading the files ``inputs``) at ``path``, its last sample grid beside
    it; ``extra`` adds entries of the caller's (e.g. what the pose regressor that scored the
    run scores on real frames, which a later session with another copy of it cannot
    recompute)."""
    found = curves(work_dir)
    grid = osp.join(work_dir, 'samples', f'iter_{iters}.png')
    if not osp.isfile(grid):
        raise FileNotFoundError(f'{work_dir}: no sample grid of iteration {iters} ({grid}) '
                                'to record')
    evals = evaluation_seconds(work_dir)
    record = dict(
        config=config, config_sha256=config_fingerprint(config), options=list(options),
        iters=iters, inputs_sha256=file_fingerprints(inputs), work_dir=work_dir,
        commit=commit(), train_seconds=round(seconds, 1),
        seconds_per_step=round(seconds_per_step(work_dir), 4),
        evaluation_seconds={str(k): round(v, 1) for k, v in evals.items()},
        curves={m: {str(k): v for k, v in c.items()} for m, c in found.items()},
        machine=machine(), **(extra or {}))
    with open(grid, 'rb') as f:
        atomic_write(sample_grid(path), f.read())
    write_report(path, record)
    return record


def read_record(path: str, config: str, options: List[str], iters: int,
                inputs: Optional[Dict[str, str]] = None,
                per_run: Sequence[str] = ()) -> Optional[dict]:
    """The record at ``path`` if there is one (None if not), provided it was run with this
    config (as resolved now), these options, this budget and the same content of the files
    ``inputs``; a ValueError naming the record and what differs otherwise. The inputs named
    in ``per_run`` must have been read by the recorded run too, but their content may differ
    from the files now (an instrument that each session trains again, on a machine whose
    floating point differs: the caller pairs the runs that share one copy)."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    fingerprints = file_fingerprints(inputs)
    recorded = record.get('inputs_sha256') or {}
    fingerprints.update({k: recorded[k] for k in per_run if k in fingerprints and k in recorded})
    wanted = dict(config=config, config_sha256=config_fingerprint(config),
                  options=list(options), iters=iters, inputs_sha256=fingerprints)
    differs = [k for k, v in wanted.items() if record.get(k) != v]
    if differs:
        detail = '; '.join(f'{k}: recorded {record.get(k)!r}, now {wanted[k]!r}'
                           for k in differs)
        raise ValueError(f'{path} records a run of other settings ({detail}): delete it to '
                         'train the run again, or give the study another --records folder')
    if not osp.isfile(sample_grid(path)):
        raise FileNotFoundError(f'{path}: its sample grid {sample_grid(path)} is missing')
    return record


def recorded_curves(record: dict) -> dict:
    """The record's curves, as :func:`benchmarks.runs.curves` gives them (int iterations)."""
    return {m: {int(k): v for k, v in c.items()} for m, c in record['curves'].items()}


def run_recorded(config: str, work_dir: str, options: List[str], iters: int,
                 eval_interval: int, path: str,
                 inputs: Optional[Dict[str, str]] = None, per_run: Sequence[str] = (),
                 extra: Optional[dict] = None) -> dict:
    """The record of a run at ``path``: read when there is one of these settings
    (:func:`read_record`, ``per_run``), else the run trained (or resumed) in ``work_dir``
    (:func:`benchmarks.runs.train`), its lost evaluations made from checkpoints, and then
    recorded (with ``extra``)."""
    record = read_record(path, config, options, iters, inputs, per_run)
    if record is not None:
        print(f'  {work_dir}: from its record {path}', flush=True)
        return record
    seconds = train(config, work_dir, options, iters)
    evaluate_missing(config, work_dir, options, iters, eval_interval)
    return write_record(path, config, options, iters, work_dir, seconds, inputs, extra)

"""Scale-out and faults: two processes through tools/dist_train.sh, kill -9 and --resume,
atomic and safe checkpoints, non-finite losses, invalid configs."""
import importlib.util
import json
import math
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.hooks import Hook

from .conftest import ROOT, load_tool
from .test_train_runner import METRICS, load_train_tool, small_eval

CONFIG = osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py')
PYTHON = sys.executable


def run(cmd, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHON=PYTHON, OMP_NUM_THREADS='1')
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, **kwargs)


def config_with_hooks(path, *hooks):
    """The CPU recipe plus hooks of tests/fault_hooks.py, written to ``path``."""
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG)
    cfg.custom_imports.imports.append('tests.fault_hooks')
    cfg.custom_hooks.extend(hooks)
    cfg.dump(str(path))
    return str(path)


def losses(work_dir):
    """{iteration: loss} over every log of a run (a resumed run's logs included)."""
    out = {}
    for stamp in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, stamp, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            for line in open(path):
                r = json.loads(line)
                if 'loss' in r:
                    out[r['iter']] = r['loss']
    return out


# -- two processes ------------------------------------------------------------------------------
def test_two_processes_train_on_gloo_and_evaluate_like_one(handco_root, tmp_path):
    work = tmp_path / 'dist'
    opts = ['train_cfg.max_iters=6', 'train_cfg.val_interval=6', 'train_dataloader.batch_size=2',
            'default_hooks.logger.interval=1', 'log_processor.window_size=1',
            'default_hooks.checkpoint.interval=6', 'env_cfg.dist_cfg.backend=nccl',
            *small_eval(handco_root)]
    config = config_with_hooks(tmp_path / 'record.py', dict(type='RecordPairsHook'))
    # the config asks for NCCL: without a GPU the tools pick gloo themselves
    proc = run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work),
                '--cfg-options', *opts], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'distributed training on CPU with the gloo backend' in proc.stdout + proc.stderr
    logged = losses(work)
    assert sorted(logged) == list(range(1, 7)) and all(map(math.isfinite, logged.values()))
    # every rank's random state, gathered where rank 0 saved (ResumableCheckpointHook)
    state = torch.load(work / 'iter_6.pth')['random_state']
    assert state['world_size'] == 2 and len(state['ranks']) == 2
    assert not torch.equal(state['ranks'][0]['torch'], state['ranks'][1]['torch'])
    # each rank drew its own pairs, every pair inside one clip with a non-zero offset
    pairs = [json.load(open(work / f'pairs_rank{r}.json')) for r in (0, 1)]
    assert len(pairs[0]) == len(pairs[1]) == 12
    assert pairs[0] != pairs[1]
    for clip, a, b in pairs[0] + pairs[1]:
        assert a != b and abs(a - b) <= 4

    # FID and diversity: 2 processes gather the samples and real features of 1 process
    test_opts = [f'test_evaluator.metrics.{name}.fake_nums=10' for name in METRICS]
    test_opts += [o for o in small_eval(handco_root) if 'fake_nums' not in o]
    proc = run(['bash', 'tools/dist_test.sh', CONFIG, str(work / 'iter_6.pth'), '2',
                '--work-dir', str(tmp_path / 't2'), '--out', str(tmp_path / 'two.json'),
                '--cfg-options', *test_opts], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run([PYTHON, 'tools/test.py', CONFIG, str(work / 'iter_6.pth'), '--work-dir',
                str(tmp_path / 't1'), '--out', str(tmp_path / 'one.json'), '--cfg-options',
                *test_opts], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.load(open(tmp_path / 'one.json'))['metrics']
    two = json.load(open(tmp_path / 'two.json'))['metrics']
    assert set(one) == set(two)
    for key in ('FID-train/fid', 'FID-val/fid', 'Diversity-train/pairwise_distance',
                'Roughness/roughness'):
        assert math.isclose(one[key], two[key], rel_tol=1e-5), (key, one[key], two[key])
    # KID is a difference of large kernel sums: float rounding of the features (batched
    # differently per process) shows more
    assert math.isclose(one['KID-val/kid'], two['KID-val/kid'], rel_tol=1e-3)


# -- kill -9 and resume -------------------------------------------------------------------------
@pytest.mark.parametrize('workers', [0, 1])
def test_resume_after_kill_repeats_the_uninterrupted_losses(handco_root, tmp_path, workers):
    opts = ['train_cfg.max_iters=8', 'train_cfg.val_interval=4', 'train_dataloader.batch_size=2',
            'default_hooks.logger.interval=1', 'log_processor.window_size=1',
            'default_hooks.checkpoint.interval=4', 'randomness.seed=7',
            'randomness.deterministic=True', *small_eval(handco_root),
            f'train_dataloader.num_workers={workers}',
            f'train_dataloader.persistent_workers={workers > 0}']
    killing = config_with_hooks(tmp_path / 'kill.py', dict(type='KillAtIterHook', at=6))
    whole, cut = tmp_path / 'whole', tmp_path / 'cut'
    train = [PYTHON, 'tools/train.py']
    proc = run(train + [CONFIG, '--work-dir', str(whole), '--cfg-options', *opts], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run(train + [killing, '--work-dir', str(cut), '--cfg-options', *opts], timeout=300)
    assert proc.returncode == -signal.SIGKILL  # killed after iteration 6, saved at 4
    assert sorted(losses(cut)) == list(range(1, 7))
    proc = run(train + [CONFIG, '--work-dir', str(cut), '--resume', '--cfg-options', *opts],
               timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected, resumed = losses(whole), losses(cut)
    assert sorted(expected) == list(range(1, 9))
    # iterations 5..8 ran twice in `cut` (before the kill and after the resume): the
    # resumed run's records replace the first ones and equal the uninterrupted run's
    assert resumed == expected
    # and the runs end in the same state: weights, EMA weights, optimizer, LR schedule
    ends = [torch.load(d / 'iter_8.pth') for d in (whole, cut)]
    assert ends[1]['meta']['iter'] == 8 and ends[1]['random_state']['world_size'] == 1
    for key in ('state_dict', 'ema_state_dict'):
        assert ends[0][key].keys() == ends[1][key].keys()
        assert all(torch.equal(ends[0][key][k], ends[1][key][k]) for k in ends[0][key])
    moments = [e['optimizer']['state'] for e in ends]
    assert all(torch.equal(moments[0][i]['exp_avg'], moments[1][i]['exp_avg'])
               for i in moments[0])
    assert ends[0]['param_schedulers'] == ends[1]['param_schedulers']


# -- checkpoints --------------------------------------------------------------------------------
def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    from vidreg_mm.engine.checkpoint_io import AtomicLocalBackend
    backend = AtomicLocalBackend()
    path = tmp_path / 'iter_4.pth'
    backend.put(b'complete checkpoint', path)

    def killed(*args):
        raise KeyboardInterrupt  # the process dies between writing and renaming
    monkeypatch.setattr(os, 'replace', killed)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new', path)
    assert path.read_bytes() == b'complete checkpoint'
    assert os.listdir(tmp_path) == ['iter_4.pth']


def test_resume_falls_back_past_a_torn_last_checkpoint(tmp_path, mmlog):
    from vidreg_mm.engine import find_resume_checkpoint
    assert find_resume_checkpoint(str(tmp_path)) is None
    for n in (4, 8, 12):
        (tmp_path / f'iter_{n}.pth').write_bytes(b'x')
    (tmp_path / '.iter_16.pth.abc.tmp').write_bytes(b'half')  # left by a kill while saving
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_8.pth')
    (tmp_path / 'last_checkpoint').write_text('')  # killed while MMEngine rewrote it
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_12.pth')
    assert any('resuming from the newest checkpoint' in m for m in mmlog)


def test_checkpoints_are_written_through_the_atomic_backend(handco_root, tmp_path):
    from mmengine.hooks import CheckpointHook

    from vidreg_mm.engine.checkpoint_io import AtomicLocalBackend
    runner = load_train_tool().main([CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                                     'train_cfg.max_iters=1', 'train_dataloader.batch_size=1',
                                     *small_eval(handco_root)])
    hook = [h for h in runner.hooks if isinstance(h, CheckpointHook)][0]
    assert isinstance(hook.file_backend, AtomicLocalBackend)
    # the best checkpoint by validation FID goes through the same backend: no temporary file
    assert sorted(os.listdir(tmp_path)) == sorted(
        [runner.timestamp, 'iter_1.pth', 'best_FID-val_fid_iter_1.pth', 'last_checkpoint',
         'samples', 'synthetic_hands_temporal_cpu.py', '.run.lock'])


def test_a_run_killed_in_its_final_evaluation_evaluates_when_resumed(handco_root, tmp_path):
    """Killed after 'Saving checkpoint at 4' (= max_iters) while evaluating, the resumed run
    has no iteration left to train but runs the evaluation it was due: metrics and a best
    checkpoint, where MMEngine alone would end at once without them."""
    opts = ['train_cfg.max_iters=4', 'train_cfg.val_interval=4', 'train_dataloader.batch_size=1',
            'default_hooks.checkpoint.interval=4', *small_eval(handco_root)]
    killing = config_with_hooks(tmp_path / 'kill.py', dict(type='KillInValHook', at=4))
    work = tmp_path / 'run'
    train = [PYTHON, 'tools/train.py']
    proc = run(train + [killing, '--work-dir', str(work), '--cfg-options', *opts], timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert osp.isfile(work / 'iter_4.pth') and not any(
        n.startswith('best_') for n in os.listdir(work))
    proc = run(train + [CONFIG, '--work-dir', str(work), '--resume', '--cfg-options', *opts],
               timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'whose evaluation did not finish' in proc.stdout + proc.stderr
    assert osp.isfile(work / 'best_FID-val_fid_iter_4.pth')
    records = [json.loads(line) for stamp in sorted(os.listdir(work))
               if osp.isfile(work / stamp / 'vis_data' / 'scalars.json')
               for line in open(work / stamp / 'vis_data' / 'scalars.json')]
    assert any('FID-val/fid' in r and r['step'] == 4 for r in records)


def test_dist_train_uses_the_projects_environment_not_the_first_python(tmp_path):
    """tools/dist_train.sh runs torchrun with the project's interpreter (VIDREG_VENV, default
    .venv), not whatever `python` the PATH finds first; PYTHON still wins when set."""
    def fake(folder, name):
        os.makedirs(folder / 'bin')
        path = folder / 'bin' / 'python'
        path.write_text(f'#!/bin/sh\necho "{name} $@"\n')
        path.chmod(0o755)
        return str(path)
    fake(tmp_path / 'venv', 'venv-python')
    fake(tmp_path / 'path', 'path-python')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env.update(VIDREG_VENV=str(tmp_path / 'venv'),
               PATH=f"{tmp_path / 'path' / 'bin'}:{os.environ['PATH']}")
    proc = subprocess.run(['bash', 'tools/dist_train.sh', CONFIG, '2'], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith('venv-python -m torch.distributed.run')
    assert '--nproc_per_node=2' in proc.stdout and 'tools/train.py' in proc.stdout
    env['PYTHON'] = str(tmp_path / 'path' / 'bin' / 'python')
    proc = subprocess.run(['bash', 'tools/dist_train.sh', CONFIG, '2'], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.stdout.startswith('path-python ')


def test_a_second_run_in_a_work_dir_in_use_is_refused_naming_the_first(tmp_path):
    """Two runs in one work dir would share a log and overwrite each other's checkpoints: the
    second is refused before it builds anything, naming the first; the lock of a process that
    died (however) is no lock."""
    from vidreg_mm.fileio import LOCK_NAME, WorkDirInUse, work_dir_lock
    work = tmp_path / 'work'
    with work_dir_lock(str(work)):  # the first run (this process; another open file)
        with pytest.raises(SystemExit, match=rf'work dir .*work is in use by another run: '
                           rf'.*"pid": {os.getpid()}.*another --work-dir'):
            load_train_tool().main([CONFIG, '--work-dir', str(work)])
        with pytest.raises(WorkDirInUse, match=f'"pid": {os.getpid()}'):
            with work_dir_lock(str(work)):
                pass
    # a run killed while it holds the lock: its file stays, its lock goes with it
    holder = subprocess.run(
        [PYTHON, '-c', 'import fcntl, os, sys\nf = open(sys.argv[1], "a+")\n'
         'fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nf.write("dead run")\nf.flush()\n'
         'os.kill(os.getpid(), 9)', str(work / LOCK_NAME)])
    assert holder.returncode == -signal.SIGKILL
    assert (work / LOCK_NAME).read_text().endswith('dead run')
    with work_dir_lock(str(work)):  # taken at once
        assert f'"pid": {os.getpid()}' in (work / LOCK_NAME).read_text()


def test_a_run_resumed_from_another_work_dir_leaves_that_dirs_files_alone(handco_root,
                                                                         tmp_path):
    """The checkpoint names its run's best checkpoint by absolute path: a run resumed from it
    in a new work dir must not delete that file when it finds a better one, and keeps a best
    checkpoint of its own. What the resumed config changes is said, key by key."""
    opts = ['train_dataloader.batch_size=1', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2', *small_eval(handco_root)]
    old, new = tmp_path / 'old', tmp_path / 'new'
    load_train_tool().main([CONFIG, '--work-dir', str(old), '--cfg-options',
                            'train_cfg.max_iters=2', *opts])
    files = {name: os.path.getmtime(old / name) for name in os.listdir(old)}
    assert 'best_FID-val_fid_iter_2.pth' in files
    import logging

    from mmengine.logging import MMLogger
    mmlog = []
    handler = logging.Handler()
    handler.emit = lambda record: mmlog.append(record.getMessage())
    MMLogger.get_current_instance().addHandler(handler)  # the logger the next run starts in
    load_train_tool().main([CONFIG, '--work-dir', str(new), '--resume', str(old / 'iter_2.pth'),
                            '--cfg-options', 'train_cfg.max_iters=4', 'model.loss.lambda_reg=0.5',
                            *opts])
    said = [m for m in mmlog if 'differs from the one' in m]
    assert len(said) == 1 and 'in 2 key(s)' in said[0], said
    assert 'train_cfg.max_iters: 2 -> 4' in said[0]
    assert 'model.loss.lambda_reg: (not set) -> 0.5' in said[0]  # the class's default before
    assert {name: os.path.getmtime(old / name) for name in os.listdir(old)} == files
    assert {'iter_4.pth', 'best_FID-val_fid_iter_4.pth'} <= set(os.listdir(new))
    assert torch.load(new / 'iter_4.pth')['message_hub']['runtime_info']['best_ckpt'] == str(
        new / 'best_FID-val_fid_iter_4.pth')


class Payload:
    def __reduce__(self):
        return (os.system, ('touch ' + os.environ['PAYLOAD_MARK'], ))


def test_truncated_foreign_and_unsafe_checkpoints_are_refused(handco_root, tmp_path,
                                                              monkeypatch):
    good = tmp_path / 'run'
    load_train_tool().main([CONFIG, '--work-dir', str(good), '--cfg-options',
                            'train_cfg.max_iters=2', 'train_dataloader.batch_size=1',
                            *small_eval(handco_root)])
    data = (good / 'iter_2.pth').read_bytes()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    foreign = tmp_path / 'foreign.pth'
    torch.save({'weight': torch.ones(3)}, foreign)
    unsafe = tmp_path / 'unsafe.pth'
    mark = tmp_path / 'payload_ran'
    monkeypatch.setenv('PAYLOAD_MARK', str(mark))
    torch.save({'meta': {}, 'state_dict': Payload()}, unsafe)

    def resume(path):
        with pytest.raises(SystemExit) as e:
            load_train_tool().main([CONFIG, '--work-dir', str(tmp_path / 'r'), '--resume',
                                    str(path), '--cfg-options', *small_eval(handco_root)])
        return str(e.value)

    assert f'cannot read checkpoint {truncated}: the file is truncated, corrupt' in resume(
        truncated)
    msg = resume(foreign)
    assert f'cannot resume from {foreign}: not a training checkpoint' in msg
    assert 'missing meta, state_dict, optimizer, message_hub' in msg
    msg = resume(unsafe)
    assert f"refusing to load checkpoint {unsafe}: it names ['posix.system']" in msg
    assert 'none is ever suggested' in msg and 'safe_globals' not in msg  # never a callable
    assert not mark.exists()  # nothing in the file ran
    assert 'does not exist' in resume(tmp_path / 'missing.pth')

    # tools/test.py and any load through MMEngine's CheckpointLoader alike
    spec_args = [CONFIG, str(truncated), '--work-dir', str(tmp_path / 't'), '--cfg-options',
                 *small_eval(handco_root)]
    tool = load_tool('tools/test.py')
    with pytest.raises(SystemExit, match=f'cannot read checkpoint {truncated}'):
        tool.main(spec_args)

    # a checkpoint records what it was trained as; the flow-matching config refuses this
    # DDPM checkpoint by name (the weights alone would load: the two share weight names)
    record = torch.load(good / 'iter_2.pth')['meta']['trained_as']
    assert record['latent'] is None and record['frames_per_clip'] == 2
    assert record['schedule']['num_train_timesteps'] == 1000
    flow = osp.join(ROOT, 'configs', 'synthetic_hands_flow_temporal_cpu.py')
    with pytest.raises(SystemExit, match=r"iter_2.pth was trained as another model(.|\n)*"
                       r"objective: checkpoint '\w+Objective', this config "
                       r"'FlowVelocityObjective'(.|\n)*--allow-mismatch"):
        tool.main([flow, str(good / 'iter_2.pth'), '--work-dir', str(tmp_path / 'f'),
                   '--cfg-options', *small_eval(handco_root)])


def test_an_older_openmmlab_checkpoint_loads_only_by_explicit_opt_in(handco_root, tmp_path):
    """A checkpoint as MMEngine writes it without WeightsOnlyCheckpointHook (HistoryBuffer
    objects, numpy values) is refused, naming what it holds; allowing those names (for a file
    one trusts, as docs/training.md says) resumes the run, and the sampling tools take the
    same opt-in."""
    import re

    import numpy as np
    from mmengine.logging import HistoryBuffer
    load_train_tool().main([CONFIG, '--work-dir', str(tmp_path / 'run'), '--cfg-options',
                            'train_cfg.max_iters=2', 'train_dataloader.batch_size=1',
                            *small_eval(handco_root)])
    ckpt = torch.load(tmp_path / 'run' / 'iter_2.pth')
    hub = ckpt['message_hub']
    hub['log_scalars'] = {k: HistoryBuffer(np.array(v['log']), np.array(v['count']),
                                           v['max_length'])
                          for k, v in hub['log_scalars'].items()}
    ckpt['meta']['seed'] = np.int64(ckpt['meta']['seed'])
    older = tmp_path / 'older.pth'
    torch.save(ckpt, older)
    opts = [*small_eval(handco_root), 'train_cfg.max_iters=3', 'train_dataloader.batch_size=1']
    allowed, names = [], set()
    for _ in range(4):  # each refusal names what the file holds, as far as torch can tell
        try:
            runner = load_train_tool().main([
                CONFIG, '--work-dir', str(tmp_path / 'resumed'), '--resume', str(older),
                '--cfg-options', *opts, *allowed])
            break
        except SystemExit as e:
            message = str(e)
            assert f'refusing to load checkpoint {older}' in message
            # MMEngine's HistoryBuffer pickles call builtins.getattr: a function, which the
            # refusal names but never suggests allowing; the user who trusts the file
            # follows docs/training.md and lists the names himself
            assert "it names ['builtins.getattr'], functions that unpickling would call" in (
                message) and 'safe_globals=' not in message
            names |= set(re.findall(r"'([A-Za-z_][\w.]*\.[\w]+)'", message))
            allowed = [f"default_hooks.weights_only.safe_globals=[{','.join(sorted(names))}]"]
    else:
        pytest.fail('the names the refusal lists did not load the file')
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in allowed[0]
    assert runner.iter == 3
    # the tools that sample from a checkpoint take the same opt-in the refusal names
    generate = load_tool('tools/generate.py')
    args = [CONFIG, str(older), '--out', str(tmp_path / 'gen'), '--num', '1', '--steps', '2']
    with pytest.raises(SystemExit, match=f'refusing to load checkpoint {older}'):
        generate.main(args)
    assert generate.main(args + ['--cfg-options', allowed[0]]).shape[0] == 1


# -- non-finite losses --------------------------------------------------------------------------
def nan_at(monkeypatch, iterations):
    """Make the training loss NaN at the given (1-based) iterations."""
    from mmengine.logging import MessageHub

    from vidreg_mm.models import TemporalRegLoss
    original = TemporalRegLoss.forward

    def forward(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if MessageHub.get_current_instance().get_info('iter', 0) + 1 in iterations:
            out['loss_simple'] = out['loss_simple'] * float('nan')
        return out
    monkeypatch.setattr(TemporalRegLoss, 'forward', forward)


def test_nan_loss_stops_with_its_iteration(handco_root, tmp_path, monkeypatch):
    nan_at(monkeypatch, {3})
    with pytest.raises(FloatingPointError, match=r'non-finite training loss at iteration 3 '
                       r"\(loss=nan\); stopped before the optimizer step.*"
                       r"optim_wrapper.nonfinite_loss='skip'"):
        load_train_tool().main([CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                                'train_cfg.max_iters=6', 'train_dataloader.batch_size=1',
                                'default_hooks.checkpoint.interval=2', *small_eval(handco_root)])
    state = torch.load(tmp_path / 'iter_2.pth')['state_dict']  # the checkpoint before it
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


class Snapshot(Hook):
    """After each iteration: parameters, Adam's step count, the skip count and the outputs."""

    def __init__(self, snapshots: dict):
        self.snapshots = snapshots

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        state = runner.optim_wrapper.optimizer.state_dict()['state']
        self.snapshots[runner.iter + 1] = (
            [p.detach().clone() for p in runner.model.parameters()],
            int(next(iter(state.values()))['step']) if state else 0,
            runner.optim_wrapper.skipped_steps, dict(outputs))


def test_nan_loss_skip_leaves_parameters_and_optimizer_untouched(handco_root, tmp_path,
                                                                 monkeypatch, capsys):
    from mmengine.runner import Runner

    snapshots = {}
    nan_at(monkeypatch, {3})
    tool = load_train_tool()
    args = tool.parse_args([CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                            'train_cfg.max_iters=5', 'train_dataloader.batch_size=1',
                            'default_hooks.logger.interval=1', 'log_processor.window_size=1',
                            'optim_wrapper.nonfinite_loss=skip', *small_eval(handco_root)])
    runner = Runner.from_cfg(tool.build_config(args))
    runner.register_hook(Snapshot(snapshots), priority='LOWEST')
    runner.train()
    params2, step2, skipped2, _ = snapshots[2]
    params3, step3, skipped3, out3 = snapshots[3]
    assert all(torch.equal(a, b) for a, b in zip(params2, params3))  # step 3 skipped
    assert step3 == step2 == 2 and (skipped2, skipped3) == (0, 1)  # Adam did not move
    assert math.isnan(float(out3['loss'].detach()))  # the log says what happened at step 3
    params4, step4, skipped4, out4 = snapshots[4]
    assert step4 == 3 and not all(torch.equal(a, b) for a, b in zip(params3, params4))
    assert math.isfinite(float(out4['loss'].detach())) and skipped4 == 1
    assert [r.get('skipped_steps') for r in losses_records(tmp_path)][2:] == [1, 1, 1]
    out = capsys.readouterr().out
    assert 'non-finite training loss at iteration 3 (loss=nan): step skipped (1 so far)' in out


def losses_records(work_dir):
    return [r for stamp in sorted(os.listdir(work_dir))
            if osp.isfile(osp.join(work_dir, stamp, 'vis_data', 'scalars.json'))
            for r in map(json.loads, open(osp.join(work_dir, stamp, 'vis_data',
                                                   'scalars.json'))) if 'loss' in r]


def test_the_skip_works_with_amp_and_on_every_rank_alike(monkeypatch):
    """The AMP variant (loss scaler and autocast of MMEngine's AmpOptimWrapper) skips a NaN
    step the same way; a rank whose own loss is finite skips when another rank's is not."""
    from mmagic.registry import OPTIM_WRAPPERS
    from mmengine.logging import MessageHub
    from mmengine.optim.optimizer import amp_optimizer_wrapper

    from vidreg_mm.engine import optim_wrapper as ow
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)  # CPU here
    MessageHub.get_instance('amp_skip_test')  # a hub of its own (the current instance)
    net = torch.nn.Linear(3, 1)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='FiniteLossAmpOptimWrapper', nonfinite_loss='skip', clip_grad=dict(max_norm=1.0),
        optimizer=torch.optim.AdamW(net.parameters(), lr=0.1)))
    assert isinstance(wrapper, ow.AmpOptimWrapper) and isinstance(wrapper, ow.FiniteLossMixin)
    before = [p.detach().clone() for p in net.parameters()]
    x = torch.ones(2, 3)
    with wrapper.optim_context(net):
        wrapper.update_params(net(x).sum() * float('inf'))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert wrapper.optimizer.state_dict()['state'] == {} and wrapper.skipped_steps == 1
    assert all(p.grad is None for p in net.parameters())  # no backward ran
    monkeypatch.setattr(ow, 'nonfinite_anywhere', lambda loss: True)  # another rank's NaN
    wrapper.update_params(net(x).sum())
    assert wrapper.skipped_steps == 2 and wrapper.optimizer.state_dict()['state'] == {}
    monkeypatch.undo()
    wrapper.update_params(net(x).sum())  # a finite step goes through
    assert not torch.equal(before[0], net.weight)
    with pytest.raises(ValueError, match="optim_wrapper.nonfinite_loss must be one of "
                       r"\('stop', 'skip'\), got 'ignore'"):
        OPTIM_WRAPPERS.build(dict(type='FiniteLossOptimWrapper', nonfinite_loss='ignore',
                                  optimizer=dict(type='SGD', lr=0.1), ), )


# -- invalid configs ----------------------------------------------------------------------------
@pytest.mark.parametrize('option, message', [
    # rules across keys: config_check, before anything is built
    ('model.unet.image_size=30',
     'model.unet.image_size=30: DenoisingUnet halves the resolution 2 times, so the size must '
     'be a positive multiple of 4'),
    ('train_dataloader.dataset.pair_mode=False',
     'model.loss.lambda_reg=0.3 with train_dataloader.dataset.pair_mode=False: the regulariser '
     'needs pairs'),
    ('default_hooks.checkpoint.max_keep_ckpts=1',
     'default_hooks.checkpoint.max_keep_ckpts=1: must be <= 0 (keep all) or >= 2'),
    ('train_dataloader.batch_size=1000000000',
     'train_dataloader.batch_size=1000000000: must be an integer in [1, 65536]'),
    ('val_dataloader.batch_size=0', 'val_dataloader.batch_size=0: must be an integer'),
    ('val_evaluator.metrics.fid_val=None',
     "default_hooks.checkpoint.save_best='FID-val/fid': the validation reports no such metric"),
    pytest.param('wandb.enabled=True', 'wandb.enabled=True: the wandb package is not installed',
                 marks=pytest.mark.skipif(importlib.util.find_spec('wandb') is not None,
                                          reason='wandb is installed here')),
    # a run whose checkpoints nothing could load never starts
    ('default_hooks.weights_only=None',
     "default_hooks.weights_only=None: must be dict(type='WeightsOnlyCheckpointHook')"),
    # one module's own value: the module refuses it when the Runner builds it
    ('model.loss.lambda_reg=-0.5',
     'lambda_reg must be a finite number >= 0 (0 turns the regulariser off), got -0.5'),
    ('model.loss.lambda_reg=inf', 'lambda_reg must be a finite number >= 0 (0 turns the '
     'regulariser off), got inf'),
    ('model.loss.lambda_reg=abc', "lambda_reg must be a finite number >= 0 (0 turns the "
     "regulariser off), got 'abc'"),
    ('model.diffusion_scheduler.prediction_type=score',
     "model.diffusion_scheduler must be a diffusers DDPM-type scheduler with prediction_type "
     "in ('epsilon', 'sample', 'v_prediction'), or FlowMatchingScheduler; got DDPMScheduler "
     "with prediction_type='score'"),
    ('model.sampler=heun', "model.sampler must be one of ('ddpm', 'ddim') for DDPMScheduler, "
     "got 'heun'"),
    ('model.loss.space=latent', "space must be one of ('output', 'x0'), got 'latent'"),
])
def test_invalid_config_values_stop_before_training_naming_the_key(option, message, tmp_path):
    with pytest.raises(SystemExit) as e:
        load_train_tool().main([CONFIG, '--work-dir', str(tmp_path), '--cfg-options', option])
    assert message in str(e.value)
    assert not any(f.endswith('.pth') for f in os.listdir(tmp_path))  # nothing trained


@pytest.mark.parametrize('option, error, message', [
    ('train_dataloader.dataset.offset_range=(3,1)', ValueError,
     'offset_range=(3, 1) holds no offset'),
    ('train_dataloader.dataset.data_root=/no/such/dir', FileNotFoundError,
     "data_root '/no/such/dir' does not exist"),
    ('optim_wrapper.nonfinite_loss=ignore', ValueError,
     "optim_wrapper.nonfinite_loss must be one of ('stop', 'skip'), got 'ignore'"),
])
def test_what_the_runner_builds_at_train_start_refuses_bad_values_before_a_step(
        option, error, message, handco_root, tmp_path):
    opts = (['train_dataloader.dataset.generate_if_missing=None'] if 'data_root' in option
            else [f'train_dataloader.dataset.data_root={handco_root}'])
    with pytest.raises(error) as e:
        load_train_tool().main([CONFIG, '--work-dir', str(tmp_path), '--cfg-options', option,
                                *opts])
    assert message in str(e.value)
    assert not any(f.endswith('.pth') for f in os.listdir(tmp_path))


def test_all_cross_key_violations_are_reported_at_once(tmp_path):
    with pytest.raises(SystemExit) as e:
        load_train_tool().main([CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                                'train_dataloader.dataset.pair_mode=False',
                                'default_hooks.checkpoint.max_keep_ckpts=1'])
    assert 'train_dataloader.dataset.pair_mode=False' in str(e.value)
    assert 'max_keep_ckpts=1' in str(e.value)
    assert not os.listdir(tmp_path)  # checked before the Runner started


def test_an_odd_number_of_pairs_keeps_every_pair_whole(handco_root):
    """batch_size counts pairs in pair mode: any size, odd too, holds whole pairs (there is
    no per-frame batch that could split one)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(CONFIG)
    loader = cfg.train_dataloader
    loader.update(batch_size=3, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = handco_root
    batch = next(iter(Runner.build_dataloader(loader, seed=0)))
    assert len(batch['inputs']) == 3 and batch['inputs'][0].shape[0] == 2
    for s in batch['data_samples']:
        a, b = s.metainfo['frame_inds']
        assert a != b


def test_load_from_a_checkpoint_of_another_model_is_refused_unless_allowed(tmp_path):
    from types import SimpleNamespace

    from vidreg_mm.engine import CheckpointError
    from vidreg_mm.engine.checkpoint_io import state_dict_mismatch
    from vidreg_mm.engine.hooks import WeightsOnlyCheckpointHook
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    other = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2),
                                torch.nn.Linear(2, 2))
    path = str(tmp_path / 'other.pth')
    torch.save(dict(state_dict={f'module.{k}': v for k, v in other.state_dict().items()},
                    meta={}), path)
    diff = state_dict_mismatch(model.state_dict(), torch.load(path)['state_dict'])
    assert diff == dict(missing=[], unexpected=['2.bias', '2.weight'],
                        mis_shaped=['0.bias: (5,) != (4,)', '0.weight: (5, 3) != (4, 3)',
                                    '1.weight: (2, 5) != (2, 4)'])
    runner = SimpleNamespace(model=model, _load_from=path, _resume=False)
    hook = WeightsOnlyCheckpointHook()
    with pytest.raises(CheckpointError, match=r'(?s)other.pth does not match the model.*'
                       r'unexpected \(2\): 2.bias, 2.weight.*mis_shaped \(3\).*allow_mismatch'):
        hook.before_run(runner)
    WeightsOnlyCheckpointHook(allow_mismatch=True).before_run(runner)  # the opt-in
    torch.save(dict(state_dict=model.state_dict()), path)
    hook.before_run(runner)  # a matching checkpoint passes
    hook.after_run(runner)
    runner._resume = True  # --resume PATH: the same check
    torch.save(dict(state_dict=other.state_dict()), path)
    with pytest.raises(CheckpointError, match='does not match the model'):
        WeightsOnlyCheckpointHook().before_run(runner)


def test_a_new_run_never_overwrites_the_checkpoints_of_an_earlier_one(handco_root, tmp_path):
    tool = load_train_tool()
    args = [osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py'), '--work-dir',
            str(tmp_path), '--cfg-options', 'train_cfg.max_iters=2',
            'train_dataloader.batch_size=2', 'default_hooks.checkpoint.interval=2',
            *small_eval(handco_root), 'train_cfg.val_interval=100']
    tool.main(args)
    ckpt = tmp_path / 'iter_2.pth'
    before = (ckpt.stat().st_mtime_ns, open(tmp_path / 'last_checkpoint').read())
    with pytest.raises(SystemExit, match=f'work dir {tmp_path} holds checkpoints of an earlier '
                       r'run \(latest: .*iter_2.pth\).*--resume.*--work-dir DIR'):
        tool.main(args)
    assert (ckpt.stat().st_mtime_ns, open(tmp_path / 'last_checkpoint').read()) == before
    runner = tool.main(args[:1] + ['--resume'] + args[1:])  # the way forward it names
    assert runner.iter == 2


def test_wandb_switch_adds_the_backend_with_its_init_kwargs():
    from mmengine.config import Config

    from vidreg_mm.run_config import add_trackers
    cfg = Config.fromfile(CONFIG)
    add_trackers(cfg)  # off by default: files and TensorBoard
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend',
                                                                 'TensorboardVisBackend']
    cfg.merge_from_dict({'wandb.enabled': True, 'wandb.init_kwargs.project': 'hands'})
    add_trackers(cfg)
    add_trackers(cfg)  # once
    assert cfg.visualizer.vis_backends[2:] == [dict(type='WandbVisBackend',
                                                    init_kwargs=dict(project='hands'))]

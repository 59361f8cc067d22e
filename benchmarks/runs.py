"""What the training benchmarks share: run tools/train.py with a budget, read its curves.

Each run is a subprocess of tools/train.py (MMEngine's Runner, exactly what a user runs) in
its own work dir. A run whose log already reaches the budget is not repeated, so an
interrupted benchmark continues where it stopped. A run killed after a checkpoint was written
but before that iteration's evaluation resumes past it; :func:`evaluate_missing` scores such
a checkpoint afterwards with tools/test.py (the same metrics, samples and seeds: the EMA
weights the evaluation would have used), into ``<work_dir>/evaluation_iter_<N>.json``, which
:func:`curves` reads with the logs.
"""
import glob
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

from vidreg_mm.convergence import read_curves

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))

#: the two recipes a comparison trains, in this order
RECIPES = ('baseline', 'temporal')
FID_METRICS = ['FID-train/fid', 'FID-val/fid']
KID_METRICS = ['KID-train/kid', 'KID-val/kid']
#: the metrics speed-ups are measured on, and the suffix of their keys in a report
SPEEDUP_METRICS = {'FID-train/fid': '', 'FID-val/fid': '_fid_val',
                   'KID-train/kid': '_kid_train', 'KID-val/kid': '_kid_val'}
DIVERSITY_METRICS = [f'Diversity-{s}/{k}' for s in ('train', 'val')
                     for k in ('precision', 'recall', 'coverage', 'pairwise_distance')]
#: the metrics of configs/_base_/evaluation/fid.py, by name
METRIC_NAMES = ('fid_train', 'fid_val', 'kid_train', 'kid_val', 'diversity_train',
                'diversity_val', 'roughness')


def budget_options(seed: int, iters: int, eval_interval: int, fake_nums: int,
                   sample_steps: int, checkpoint_interval: int,
                   data_root: Optional[str] = None) -> List[str]:
    """--cfg-options for a benchmark run of a CPU recipe."""
    opts = [f'randomness.seed={seed}', f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={eval_interval}', f'model.num_sample_steps={sample_steps}',
            f'default_hooks.checkpoint.interval={checkpoint_interval}',
            'default_hooks.checkpoint.max_keep_ckpts=-1', 'default_hooks.logger.interval=50']
    opts += [f'val_evaluator.metrics.{name}.fake_nums={fake_nums}' for name in METRIC_NAMES]
    if data_root:
        opts.append(f'data_root={data_root}')  # every split (vidreg_mm.run_config)
    return opts


def schedule_options(config: str, iters: int) -> List[str]:
    """--cfg-options that stretch the config's learning-rate schedule to a budget of
    ``iters``: every scheduler that ends where the config's run ends
    (``end == train_cfg.max_iters``, e.g. a cosine decay over the whole run) ends at the
    budget instead, so that a run of any budget decays to its own end. Empty for a schedule
    that is constant after its warm-up (then the first B steps of a run are the run of
    budget B). A scheduler that ends at the run's end with an explicit ``T_max`` is refused:
    its length would not follow the budget."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    end = cfg.train_cfg.max_iters
    opts = []
    for i, sched in enumerate(cfg.get('param_scheduler') or []):
        if sched.get('end') == end:
            if sched.get('T_max') is not None:
                raise ValueError(f'{config}: param_scheduler[{i}] ends at train_cfg.max_iters '
                                 'but sets T_max; leave T_max out so that it follows the run')
            opts.append(f'param_scheduler.{i}.end={iters}')
    return opts


def finished(work_dir: str, iters: int) -> bool:
    try:
        return max(read_curves(work_dir, FID_METRICS[:1])[FID_METRICS[0]]) >= iters
    except (FileNotFoundError, ValueError):
        return False


def train(config: str, work_dir: str, options: List[str], iters: int,
          poll_seconds: float = 30.0) -> float:
    """Train (or resume) one run unless it is complete; the seconds spent training it, over
    every invocation; a schedule that spans the config's run spans the budget
    (:func:`schedule_options`). The seconds are kept in ``<work_dir>/benchmark_seconds.txt``,
    rewritten every ``poll_seconds`` while the training runs, so an invocation that is killed
    still counts (to within ``poll_seconds``) and a complete run reports them again. Steps
    repeated after an interruption (from the last checkpoint on) are counted again: it is the
    wall time the run cost, not that of an uninterrupted one (:func:`evaluation_seconds` and
    the logged step times give that)."""
    record = osp.join(work_dir, 'benchmark_seconds.txt')
    earlier = float(open(record).read()) if osp.isfile(record) else 0.0
    if finished(work_dir, iters):
        print(f'  {work_dir}: complete, not repeated', flush=True)
        return earlier
    os.makedirs(work_dir, exist_ok=True)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir,
           '--cfg-options', *schedule_options(config, iters), *options]
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        cmd.insert(3, '--resume')

    def keep(seconds: float) -> None:
        tmp = record + '.tmp'
        with open(tmp, 'w') as f:
            f.write(f'{seconds:.1f}\n')
        os.replace(tmp, record)

    start = time.perf_counter()
    with open(osp.join(work_dir, 'train_stdout.log'), 'a') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    proc.wait(timeout=poll_seconds)
                    break
                except subprocess.TimeoutExpired:
                    keep(earlier + time.perf_counter() - start)
        finally:
            if proc.poll() is None:  # this process is being stopped: stop the training too
                proc.terminate()
                proc.wait()
            keep(earlier + time.perf_counter() - start)
    if proc.returncode != 0:
        raise RuntimeError(f'training failed ({proc.returncode}): see '
                           f"{osp.join(work_dir, 'train_stdout.log')}\n{' '.join(cmd)}")
    seconds = earlier + time.perf_counter() - start
    print(f'  {work_dir}: {seconds / 60:.1f} min', flush=True)
    return seconds


_LOG_TIME = re.compile(r'^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) - mmengine - INFO - (.*)')
_TRAIN_ITER = re.compile(r'Iter\(train\) \[\s*(\d+)/')


def evaluation_seconds(work_dir: str, metric: str = FID_METRICS[0]) -> Dict[int, float]:
    """The wall seconds of each evaluation of the run, from its MMEngine logs: from the log
    line of the evaluated iteration to the line with ``metric`` (checkpoint saving and the
    sample grid included), by the iteration evaluated. An evaluation that was interrupted
    has no metric line and no entry."""
    found = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', '*.log'))):
        last = None  # (iteration, time) of the last training log line
        with open(path) as f:
            for line in f:
                m = _LOG_TIME.match(line)
                if not m:
                    continue
                when = time.mktime(time.strptime(m.group(1), '%Y/%m/%d %H:%M:%S'))
                it = _TRAIN_ITER.search(m.group(2))
                if it:
                    last = (int(it.group(1)), when)
                elif 'Iter(val)' in m.group(2) and f'{metric}:' in m.group(2) and last:
                    found[last[0]] = when - last[1]
                    last = None
    return dict(sorted(found.items()))


def seconds_per_step(work_dir: str) -> float:
    """Median of the iteration times MMEngine logged ('time': seconds per step, data
    loading included, averaged over the logger's window)."""
    times = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            times += [json.loads(line)['time'] for line in f if '"time"' in line]
    if not times:
        raise ValueError(f'{work_dir}: no iteration times logged')
    return statistics.median(times)


#: the pose regressor's metrics (benchmarks.pose_diversity.pose_evaluator), where a run has
#: them: Frechet distance and KID in its features, diversity in finger-curl space
POSE_METRICS = ([f'PoseFD-{s}/fid' for s in ('train', 'val')] +
                [f'PoseKID-{s}/kid' for s in ('train', 'val')] +
                [f'PoseDiversity-{s}/{k}' for s in ('train', 'val')
                 for k in ('precision', 'recall', 'coverage', 'pairwise_distance',
                           'real_pairwise_distance')])
CURVE_METRICS = FID_METRICS + KID_METRICS + DIVERSITY_METRICS + [
    'Roughness/roughness', 'Roughness/real_roughness']


def curves(work_dir: str) -> Dict[str, Dict[int, float]]:
    """The run's curves: its logs, and the evaluations of checkpoints that
    :func:`evaluate_missing` made; the pose metrics where the run has them."""
    found = read_curves(work_dir, CURVE_METRICS)
    try:
        found.update(read_curves(work_dir, POSE_METRICS))
    except ValueError:  # a run without the pose regressor's metrics
        pass
    for step, metrics in scored_checkpoints(work_dir).items():
        for m in found:
            if m in metrics and step not in found[m]:
                found[m][step] = float(metrics[m])
    return {m: dict(sorted(c.items())) for m, c in found.items()}


def scored_checkpoints(folder: str) -> Dict[int, dict]:
    """{iteration: metrics} of the checkpoints :func:`score_checkpoint` scored into
    ``folder`` (``evaluation_iter_<N>.json``)."""
    found = {}
    for path in glob.glob(osp.join(folder, 'evaluation_iter_*.json')):
        step = int(osp.basename(path)[len('evaluation_iter_'):-len('.json')])
        found[step] = json.load(open(path))['metrics']
    return found


def score_checkpoint(config: str, checkpoint: str, out: str, options: List[str],
                     log: str) -> None:
    """Score ``checkpoint`` with tools/test.py and ``options`` into the JSON ``out`` (written
    whole: a scoring killed midway leaves none), its output appended to ``log``."""
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), config, checkpoint,
           '--work-dir', osp.splitext(out)[0], '--out', out + '.tmp', '--cfg-options', *options]
    with open(log, 'a') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'scoring {checkpoint} failed ({proc.returncode}): see {log}')
    os.replace(out + '.tmp', out)


def missing_evaluations(work_dir: str, iters: int, interval: int) -> List[int]:
    """Iterations that should have an evaluation (every ``interval`` up to ``iters``) and
    have a checkpoint but no record in the run's curves."""
    have = curves(work_dir)[FID_METRICS[0]]
    return [k for k in range(interval, iters + 1, interval)
            if k not in have and osp.isfile(osp.join(work_dir, f'iter_{k}.pth'))]


def evaluate_missing(config: str, work_dir: str, options: List[str], iters: int,
                     interval: int) -> List[int]:
    """Score each checkpoint whose evaluation the run lost (see the module docstring) with
    tools/test.py and the run's own options (``val_evaluator`` keys applied to
    ``test_evaluator``); returns the iterations scored."""
    steps = missing_evaluations(work_dir, iters, interval)
    test_opts = [o.replace('val_evaluator.', 'test_evaluator.', 1) for o in options]
    for k in steps:
        score_checkpoint(config, osp.join(work_dir, f'iter_{k}.pth'),
                         osp.join(work_dir, f'evaluation_iter_{k}.json'), test_opts,
                         osp.join(work_dir, 'train_stdout.log'))
        print(f'  {work_dir}: iteration {k} evaluated from its checkpoint (its evaluation '
              'was lost when the run was interrupted)', flush=True)
    return steps


def timed_rounds(steps: Dict[str, Callable[[], object]], warmup: int,
                 rounds: int) -> Dict[str, List[float]]:
    """Seconds of each of ``steps`` over ``rounds`` rounds after ``warmup`` untimed ones, the
    steps alternated in one process and their order flipped every round, so that drift of
    the machine's speed hits all alike."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    order, times = list(steps), {name: [] for name in steps}
    for _ in range(rounds):
        for name in order:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
        order.reverse()
    return times


def write_report(path: str, report: dict) -> None:
    """A benchmark's JSON, written whole (a killed run leaves the previous one); says where."""
    from vidreg_mm.fileio import atomic_open
    with atomic_open(path, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'wrote {path}')


def machine() -> dict:
    return dict(platform=platform.platform(), processor=platform.processor() or None,
                cpu_count=os.cpu_count(), torch=torch.__version__,
                torch_threads=torch.get_num_threads(),
                cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def feature_extractor(config: str) -> str:
    """The name the config's FID metrics log for their feature extractor."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import vidreg_mm  # noqa: F401  registers the modules
    from vidreg_mm.evaluation.metrics import FrameFID
    init_default_scope('mmagic')
    metric = dict(Config.fromfile(config).val_evaluator.metrics.fid_train)
    metric.pop('type')
    if metric.get('feature_extractor') is None:  # Inception: name it without loading it
        return f"StyleGAN-Inception({osp.basename(metric.get('inception_path', ''))})"
    return FrameFID(**metric).extractor_name

"""What tools/train.py and tools/test.py share: the OpenMMLab command line and the config it
gives."""
import argparse
import logging
import os
import os.path as osp
from collections import Counter

import torch
from mmengine.config import Config, DictAction


def add_run_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--work-dir, --cfg-options, --launcher, --local_rank."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and results')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_dataloader.dataset.data_root=DIR')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_run_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def frames_per_sample(dataset: dict) -> int:
    """Frames in one sample of a dataset config: ``num_frames`` of a clip, 1 with
    ``pair_mode=False``; unset keys take :class:`VideoFramePairDataset`'s defaults."""
    import inspect

    from .datasets import VideoFramePairDataset
    defaults = {k: p.default for k, p in
                inspect.signature(VideoFramePairDataset).parameters.items()}
    if not dataset.get('pair_mode', defaults['pair_mode']):
        return 1
    return int(dataset.get('num_frames', defaults['num_frames']))


def trained_as(model, cfg) -> dict:
    """A run's record of what its network was trained as (``meta['trained_as']`` of its
    checkpoints): the model's (:meth:`TemporalDiffusionModel.trained_as`: objective,
    prediction type, noise schedule, latent space) and the frames per clip of its training
    data; {} for a model that keeps no record."""
    record = dict(model.trained_as()) if hasattr(model, 'trained_as') else {}
    dataset = (cfg.get('train_dataloader') or {}).get('dataset')
    if record and dataset is not None:
        record['frames_per_clip'] = frames_per_sample(dataset)
    return record


def frames_per_step(cfg: Config) -> int:
    """Frames one training step of a config sees on each process (batch size x frames per
    sample): what the recipes compare at equal cost."""
    loader = cfg.train_dataloader
    return loader.batch_size * frames_per_sample(loader.dataset)


#: the dataloaders that the one key ``data_root`` retargets
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def retarget_data_root(cfg: Config, data_root: str) -> None:
    """Point every split's dataset at ``data_root`` (``--cfg-options data_root=DIR``). The
    synthetic data is generated only at a config's own root: a retargeted dataset never
    writes to a folder it does not find (a mistyped path is an error, not new data)."""
    cfg.data_root = data_root
    for name in DATALOADERS:
        dataset = (cfg.get(name) or {}).get('dataset')
        if dataset is not None:
            dataset.data_root = data_root
            dataset.generate_if_missing = None


def data_roots(cfg) -> dict:
    """{'train': root, 'val': root, 'test': root} of the config's dataloaders."""
    return {name.split('_')[0]: ((cfg.get(name) or {}).get('dataset') or {}).get('data_root')
            for name in DATALOADERS if cfg.get(name)}


def log_data_roots(cfg, logger) -> None:
    """Say in the run's log when evaluation reads other data than training."""
    roots = data_roots(cfg)
    train = roots.get('train')
    others = {k: v for k, v in roots.items() if k != 'train' and v != train}
    if train is not None and others:
        logger.warning(f'evaluation data differs from the training data ({train}): '
                       + ', '.join(f'{k}_dataloader reads {v}' for k, v in others.items())
                       + '; to retarget every split at once use --cfg-options data_root=DIR')


def add_trackers(cfg: Config) -> None:
    """``wandb.enabled=True`` adds MMEngine's ``WandbVisBackend`` (with ``wandb.init_kwargs``)
    to the visualizer's backends, next to the local files and TensorBoard."""
    wandb = cfg.get('wandb') or {}
    if not (isinstance(wandb, dict) and wandb.get('enabled')):
        return
    backends = list(cfg.visualizer.get('vis_backends') or [])
    if not any(b.get('type') == 'WandbVisBackend' for b in backends):
        backends.append(dict(type='WandbVisBackend', init_kwargs=dict(wandb.get(
            'init_kwargs') or {})))
    cfg.visualizer.vis_backends = backends


def load_run_config(args: argparse.Namespace) -> Config:
    """The config with the command line's overrides, launcher and work dir (default
    ``work_dirs/<config name>``). ``data_root`` among the overrides retargets every split
    (:func:`retarget_data_root`)."""
    from .config_keys import merge_options
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        options = dict(args.cfg_options)
        root = options.pop('data_root', None)
        if options:
            merge_options(cfg, options)
        if root is not None:
            retarget_data_root(cfg, str(root))
    add_trackers(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def setup_distributed(cfg: Config) -> None:
    """Start the process group of a torchrun-launched run (``--launcher pytorch``, as
    tools/dist_train.sh does) on a machine without GPUs: the gloo backend, and DDP without
    ``device_ids``.

    MMEngine's pytorch launcher calls ``torch.cuda.set_device`` and its DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``; both fail without a GPU. On CPU the group is started here
    with gloo (whatever ``env_cfg.dist_cfg.backend`` says: NCCL needs GPUs), and the Runner
    then uses it as it is. With GPUs nothing changes: the config's backend (NCCL) is used.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return  # torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...) is read here
    import torch.distributed as dist
    from mmengine.logging import print_log
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'nccl')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', **dist_cfg)
    if backend != 'gloo':
        print_log(f'no GPU: distributed training on CPU with the gloo backend '
                  f'(env_cfg.dist_cfg.backend={backend!r} needs GPUs)', logger='current')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None  # a CPU module takes none
    cfg.model_wrapper_cfg = wrapper


#: start of log lines of MMEngine and MMagic that say nothing about a run: MMEngine's own
#: CheckpointHook builds the deprecated FileClient (with the HardDiskBackend alias), and
#: MMagic's loops warn about any evaluator not named 'Evaluator', NamedMetricsEvaluator
#: (its subclass) included
KNOWN_LOG_NOISE = ('"FileClient" will be deprecated in future',
                   '"HardDiskBackend" is the alias of "LocalBackend"',
                   "Evaluator type for current config is 'NamedMetricsEvaluator'")


class KnownNoiseFilter(logging.Filter):
    """Drops the log records that start with one of ``KNOWN_LOG_NOISE``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(KNOWN_LOG_NOISE)


def quiet_known_noise(logger: logging.Logger) -> None:
    """Keep the known dependency messages out of ``logger`` (a Runner's), so that the
    project's own warnings (skipped frames, retargeted data) are not buried."""
    if not any(isinstance(f, KnownNoiseFilter) for f in logger.filters):
        logger.addFilter(KnownNoiseFilter())


#: how many runners each experiment name has had in this process
_RUNNERS_BUILT: Counter = Counter()


def name_this_experiment(cfg: Config) -> None:
    """Give the second and later runner of one experiment name in a process a name of its own
    (``NAME-2``, ...). MMEngine names a run's logger, message hub and visualizer
    ``NAME_TIMESTAMP`` to the second and hands back the existing instance of that name: two
    runs of one config started within a second (tests, a benchmark's runs in one process)
    would otherwise share the first run's visualizer and log into its work dir. Every rank
    builds the same runners in the same order, so the names agree across ranks."""
    stem = osp.splitext(osp.basename(cfg.filename))[0] if cfg.filename else 'run'
    name = cfg.get('experiment_name') or stem
    _RUNNERS_BUILT[name] += 1
    if _RUNNERS_BUILT[name] > 1:
        cfg.experiment_name = f'{name}-{_RUNNERS_BUILT[name]}'


def build_runner(cfg: Config):
    """MMEngine's Runner of a checked config, as tools/train.py and tools/test.py build it:
    the process group set up first, a name of its own in this process
    (:func:`name_this_experiment`), a module that refuses its arguments an ``error: invalid
    config`` exit naming them, the known dependency messages filtered and the data roots
    logged."""
    from mmengine.runner import Runner
    setup_distributed(cfg)
    name_this_experiment(cfg)
    try:
        runner = Runner.from_cfg(cfg)
    except ValueError as e:  # a module refused its arguments (the message names them)
        raise SystemExit(f'error: invalid config: {e}') from None
    quiet_known_noise(runner.logger)
    log_data_roots(runner.cfg, runner.logger)
    return runner

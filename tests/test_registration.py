"""`import vidreg_mm` (or a config's custom_imports) makes our modules visible to MMagic."""
import subprocess
import sys
import textwrap

from .conftest import ROOT

EXPECTED = {
    'dataset': ['VideoFramePairDataset'],
    'transform': ['LoadClipFrames', 'PackFrames', 'PairedCenterCropLongEdge', 'PairedColorJitter',
                  'PairedRandomResizedCrop'],
    'model': ['FramePairDataPreprocessor', 'TemporalDiffusionModel', 'TemporalRegLoss'],
    'hook': ['GradientVarianceHook', 'RandomStateHook', 'SampleGridHook',
             'WeightsOnlyCheckpointHook'],
    'optimizer_wrapper': ['FiniteLossAmpOptimWrapper', 'FiniteLossOptimWrapper'],
    'evaluator': ['NamedMetricsEvaluator'],
    'metric': ['FrameDiversity', 'FrameFID'],
    'diffusion scheduler': ['FlowMatchingScheduler'],
}


def test_config_custom_imports_register_project_modules(tmp_path):
    """In a fresh interpreter, only the config's custom_imports imports vidreg_mm."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent("""
        default_scope = 'mmagic'
        custom_imports = dict(imports=['vidreg_mm'], allow_failed_imports=False)
        pipeline = [dict(type='PairedRandomResizedCrop', crop_size=8), dict(type='PackFrames')]
    """))
    code = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        assert 'vidreg_mm' not in sys.modules
        cfg = Config.fromfile({str(cfg)!r})
        assert 'vidreg_mm' in sys.modules
        init_default_scope(cfg.default_scope)
        from mmagic.registry import TRANSFORMS
        from vidreg_mm.registry import project_modules
        found = {{reg.name: names for reg, names in project_modules().items()}}
        print(found)
        for name in {EXPECTED!r}['transform']:
            assert TRANSFORMS.get(name) is not None, name
            assert TRANSFORMS.get('mmagic.' + name) is not None, name
        built = [TRANSFORMS.build(t) for t in cfg.pipeline]
        print([type(t).__name__ for t in built])
    """)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = eval(proc.stdout.strip().splitlines()[-2])
    for registry, names in EXPECTED.items():
        assert set(names) <= set(found.get(registry, [])), (registry, found)
    assert proc.stdout.strip().splitlines()[-1] == "['PairedRandomResizedCrop', 'PackFrames']"


def test_project_modules_are_found_by_module_path():
    from mmagic.registry import DATASETS

    from vidreg_mm.registry import project_modules
    modules = project_modules()
    assert modules[DATASETS] == ['VideoFramePairDataset']
    assert all(DATASETS.get(n).__module__.startswith('vidreg_mm.') for n in modules[DATASETS])


def test_model_and_dataset_build_outside_a_runner(handco_root):
    """The documented standalone use: no default scope set, as in a user's script."""
    code = textwrap.dedent(f"""
        import vidreg_mm
        from mmengine.config import Config
        from mmengine.registry import DefaultScope
        from mmagic.registry import DATASETS, MODELS
        assert DefaultScope.get_current_instance() is None
        cfg = Config.fromfile('configs/synthetic_hands_temporal_cpu.py')
        model = MODELS.build(cfg.model)
        print(tuple(model.infer(num_samples=1, num_steps=1).shape))
        cfg.train_dataloader.dataset.data_root = {handco_root!r}
        print(tuple(DATASETS.build(cfg.train_dataloader.dataset)[0]['inputs'].shape))
    """)
    root = __file__.rsplit('/tests/', 1)[0]
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-2:] == ['(1, 3, 32, 32)', '(2, 3, 32, 32)']


def test_importing_the_package_only_registers_modules():
    """No process-wide change: MMEngine's checkpoint loader and torch's optimizer hooks are
    as they were before the import."""
    code = textwrap.dedent("""
        from mmengine.runner import CheckpointLoader
        import torch.optim.optimizer as opt
        before = (dict(CheckpointLoader._schemes), dict(opt._global_optimizer_pre_hooks))
        import vidreg_mm
        after = (dict(CheckpointLoader._schemes), dict(opt._global_optimizer_pre_hooks))
        print(before == after, CheckpointLoader._schemes[''].__module__)
    """)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ['True', 'mmengine.runner.checkpoint']


def test_a_config_changes_one_hook_or_metric_by_name():
    """MMEngine replaces lists: hooks and metrics are named entries, so one key is enough."""
    from mmengine.config import Config
    cfg = Config.fromfile(f'{ROOT}/configs/synthetic_hands_temporal_cpu.py')
    cfg.merge_from_dict({'default_hooks.sample_grid.interval': 100,
                         'val_evaluator.metrics.fid_val.fake_nums': 64})
    assert cfg.default_hooks.sample_grid == dict(type='SampleGridHook', interval=100,
                                                 num_samples=16, num_steps=50, sampler=None)
    assert cfg.default_hooks.ema.momentum == 0.005  # the others are untouched
    metrics = cfg.val_evaluator.metrics
    assert metrics.fid_val.fake_nums == 64 and metrics.fid_train.fake_nums == 256
    from mmagic.registry import EVALUATORS
    evaluator = EVALUATORS.build(cfg.val_evaluator)
    assert [(m.prefix, m.fake_nums) for m in evaluator.metrics] == [
        ('FID-train', 256), ('FID-val', 64), ('KID-train', 256), ('KID-val', 256),
        ('Diversity-train', 256), ('Diversity-val', 256), ('Roughness', 256)]
    # the resolution is set once: the datasets' frame_size and the model agree in every recipe
    # (latent recipes: the model is at the latents' size, the autoencoder's factor smaller)
    for name in ('synthetic_hands_temporal_cpu', 'synthetic_hands_unet2d_temporal_cpu',
                 'handco_temporal', 'handco_baseline', 'synthetic_hands_latent_temporal_cpu',
                 'handco_temporal_latent'):
        cfg = Config.fromfile(f'{ROOT}/configs/{name}.py')
        size = cfg.model.unet.get('image_size', cfg.model.unet.get('sample_size'))
        factor = dict(synthetic_hands_latent_temporal_cpu=2, handco_temporal_latent=8).get(name, 1)
        for split in ('train', 'val', 'test'):
            dataset = cfg[f'{split}_dataloader'].dataset
            assert dataset.pipeline[1].type == 'ResizeFrames', (name, split)
            assert dataset.frame_size == size * factor == cfg.resolution, (name, split)


def test_the_mmengine_internals_we_use_exist_in_the_pinned_version(tmp_path):
    """vidreg_mm.engine.mmengine_compat against the installed MMEngine: a runner's load_from
    and resume, the local checkpoint loader, the accumulation counter, the file backend."""
    import mmengine
    import torch
    from mmengine.fileio import get_file_backend
    from mmengine.model import BaseModel, MMDistributedDataParallel
    from mmengine.optim import OptimWrapper
    from mmengine.runner import Runner

    from vidreg_mm.engine import AtomicLocalBackend
    from vidreg_mm.engine.mmengine_compat import (advance_accumulation_window,
                                                  local_checkpoint_loader, runner_load_from,
                                                  runner_resumes, unwrap_model)
    assert mmengine.__version__ == '0.10.7'  # what these accessors were written against

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, *args, **kwargs):
            return {}
    model = Tiny()
    runner = Runner(model=model, work_dir=str(tmp_path), load_from='x.pth', resume=True,
                    default_scope='mmagic')
    assert runner_load_from(runner) == 'x.pth' and runner_resumes(runner)
    assert unwrap_model(runner.model) is model and unwrap_model(model) is model
    assert MMDistributedDataParallel.__name__ in mmengine.model.wrappers.__all__
    assert callable(local_checkpoint_loader())
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    before = wrapper._inner_count
    advance_accumulation_window(wrapper)
    assert wrapper._inner_count == before + 1
    backend = get_file_backend(str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)


def test_importing_the_package_is_quiet_about_diffusers_and_leaves_the_warning_filters():
    code = textwrap.dedent("""
        import warnings
        before = list(warnings.filters)
        import vidreg_mm
        print(warnings.filters == before)
    """)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['True']
    assert '_register_pytree_node' not in proc.stderr


def test_every_recipe_and_benchmark_variant_config_loads_and_builds_its_model(tmp_path):
    """The configs users run (configs/) and the variants the measurements ran
    (benchmarks/configs/, inheriting recipes by relative path) load, and their models and
    losses build with the options they state (a fine-tuning config from weights of its own
    network, saved here)."""
    import glob
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from vidreg_mm.models.finetune import network_of
    root = __file__.rsplit('/tests/', 1)[0]
    paths = sorted(glob.glob(f'{root}/configs/*.py') + glob.glob(f'{root}/benchmarks/configs/*.py'))
    assert len(paths) >= 19
    init_default_scope('mmagic')
    from mmagic.registry import MODELS
    for path in paths:
        cfg = Config.fromfile(path)
        loss = MODELS.build(cfg.model.loss)
        stated = {k: v for k, v in cfg.model.loss.items() if k != 'type'}
        assert all(getattr(loss, k) == (tuple(v) if isinstance(v, list) else v)
                   for k, v in stated.items()), path
        if 'benchmarks/configs' in path:  # a variant changes the recipe or the data's view
            view = set(cfg.train_dataloader.dataset.get('generate_if_missing') or {}) & {
                'camera_pitch', 'hand_scale', 'hand_center_y'}
            assert stated or cfg.train_dataloader.dataset.get('num_frames') or view, path
        if 'autoencoder' in cfg.model:  # latent models need their autoencoder folder
            continue
        if 'pretrained' in cfg.model:  # fine-tuning: weights of the config's own network
            plain = {k: v for k, v in cfg.model.items() if k not in ('pretrained', 'lora')}
            folder = f'{tmp_path}/{osp.basename(path)}'
            network_of(MODELS.build(plain).unet).save_pretrained(folder)
            cfg.model.pretrained.path = folder
        MODELS.build(cfg.model)

"""`import vidreg_mm` (or a config's custom_imports) makes our modules visible to MMagic."""
import subprocess
import sys
import textwrap

EXPECTED = {
    'dataset': ['VideoFramePairDataset'],
    'transform': ['LoadClipFrames', 'PackFrames', 'PairedColorJitter', 'PairedRandomResizedCrop'],
    'model': ['FramePairDataPreprocessor', 'TemporalDiffusionModel', 'TemporalRegLoss'],
    'hook': ['SampleGridHook', 'WeightsOnlyCheckpointHook'],
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

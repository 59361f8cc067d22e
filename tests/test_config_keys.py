"""Keys that nothing reads are refused naming the key and the closest known one."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import vidreg_mm  # noqa: F401  registers the modules
from vidreg_mm.config_keys import arguments_of, unknown_keys

from .conftest import ROOT
from .test_train_runner import load_train_tool

CONFIG = osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py')
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py'))
                 + glob.glob(osp.join(ROOT, 'benchmarks', 'configs', '*.py')))


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_every_shipped_config_uses_only_keys_that_are_read(config):
    from mmengine.registry import init_default_scope
    init_default_scope('mmagic')
    assert unknown_keys(Config.fromfile(config)) == []


@pytest.mark.parametrize('option, message', [
    ('data_rot=/my/data', r"data_rot: no config file or MMEngine key of that name \(did you "
     r"mean 'data_root'\?\)"),
    ('model.loss.lamda_reg=0.5', r"model.loss.lamda_reg: TemporalRegLoss takes no argument "
     r"'lamda_reg' \(did you mean 'lambda_reg'\?\)"),
    ('train_cfg.max_iter=5', r"train_cfg.max_iter: IterBasedTrainLoop takes no argument "
     r"'max_iter' \(did you mean 'max_iters'\?\)"),
    ('train_dataloader.dataset.data_rot=/x', r"train_dataloader.dataset.data_rot: "
     r"VideoFramePairDataset takes no argument 'data_rot' \(did you mean 'data_root'\?\)"),
])
def test_a_mistyped_key_is_an_invalid_config_naming_it(tmp_path, option, message):
    with pytest.raises(SystemExit, match=r'^error: invalid config(.|\n)*' + message):
        load_train_tool().main([CONFIG, '--work-dir', str(tmp_path), '--cfg-options', option])
    assert not (tmp_path / 'iter_1.pth').exists()


def test_a_typo_in_a_config_file_is_caught_as_well(tmp_path):
    path = tmp_path / 'typo.py'
    path.write_text(f'_base_ = [{CONFIG!r}]\nmodel = dict(loss=dict(lamda_reg=0.5))\n')
    with pytest.raises(SystemExit, match=r"model.loss.lamda_reg: TemporalRegLoss takes no "
                       r"argument 'lamda_reg'"):
        load_train_tool().main([str(path), '--work-dir', str(tmp_path / 'w')])


def test_arguments_follow_kwargs_through_the_bases():
    class Base:
        def __init__(self, a, b=1):
            pass

    class Child(Base):
        def __init__(self, c, **kwargs):
            super().__init__(**kwargs)

    class Open:
        def __init__(self, **kwargs):
            pass

    assert arguments_of(Child) == {'a', 'b', 'c'}
    assert arguments_of(Open) is None  # cannot be known: not checked
    assert arguments_of(lambda x, y=2: None) == {'x', 'y'}


@pytest.mark.parametrize('tool, args', [
    ('tools/compute_fid_stats.py', [CONFIG]),
    ('tools/data/browse_pairs.py', ['--config', CONFIG]),
    ('tools/train_autoencoder.py', [osp.join(ROOT, 'configs',
                                             'synthetic_hands_latent_temporal_cpu.py')]),
    ('tools/analysis/gradient_variance.py', [CONFIG, CONFIG]),
])
def test_every_tool_with_cfg_options_refuses_a_key_nothing_reads(tool, args, tmp_path):
    """The tools besides train and test take --cfg-options through the same check: a typo
    ends them with the key named before they build or write anything."""
    from .conftest import load_tool
    with pytest.raises(SystemExit, match=r"^error: invalid config \(--cfg-options\):\n  "
                       r"data_rot: no config file or MMEngine key of that name \(did you "
                       r"mean 'data_root'\?\)"):
        load_tool(tool).main(args + ['--cfg-options', f'data_rot={tmp_path}'])
    assert not list(tmp_path.iterdir())

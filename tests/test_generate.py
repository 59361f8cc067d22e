"""tools/generate.py: images from a checkpoint, deterministic for a seed whatever the batch."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmagic.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from .conftest import ROOT, load_tool
from .test_model import SMALL_UNET

generate = load_tool('tools/generate.py')


def small_config(tmp_path, base='configs/synthetic_hands_temporal_cpu.py', name='small.py'):
    path = tmp_path / name
    path.write_text(f"_base_ = [{osp.join(ROOT, base)!r}]\n"
                    f"model = dict(unet=dict(_delete_=True, **{SMALL_UNET!r}))\n")
    return str(path)


def checkpoint(config, path, seed=0, ema=True):
    """A checkpoint as EMAHook leaves it: averaged weights in state_dict, the trained ones in
    ema_state_dict (prefixed module.); both non-trivial and different; with the record of
    what it was trained as that a run writes."""
    from vidreg_mm.run_config import trained_as
    init_default_scope('mmagic')
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    torch.manual_seed(seed)
    trained = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
               for k, v in model.state_dict().items()}
    averaged = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
                for k, v in model.state_dict().items()}
    ckpt = dict(meta=dict(iter=10, trained_as=trained_as(model, cfg)),
                state_dict=averaged if ema else trained)
    if ema:
        ckpt['ema_state_dict'] = dict({f'module.{k}': v for k, v in trained.items()},
                                      steps=torch.tensor(10))
    torch.save(ckpt, path)
    return averaged, trained


def pngs(folder, num):
    return [cv2.imread(osp.join(folder, f'{i:05d}.png'))[..., ::-1] for i in range(num)]


def run(config, ckpt, out, *extra):
    return generate.main([config, ckpt, '--out', str(out), '--steps', '3', *extra])


def test_writes_pngs_grid_and_settings_deterministic_whatever_the_batch(tmp_path):
    config = small_config(tmp_path)
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    imgs = run(config, ckpt, tmp_path / 'a', '--num', '5', '--batch-size', '2')
    assert imgs.shape == (5, 3, 16, 16) and imgs.dtype == torch.uint8
    files = pngs(tmp_path / 'a', 5)
    assert all(np.array_equal(f, i.permute(1, 2, 0).numpy()) for f, i in zip(files, imgs))
    grid = cv2.imread(str(tmp_path / 'a' / 'grid.png'))
    assert grid.shape == (2 + 3 * 18, 2 + 2 * 18, 3)  # 2 per row, 3 rows, 2-px gaps
    settings = json.load(open(tmp_path / 'a' / 'generate.json'))
    assert settings['sampler'] == 'ddpm' and settings['steps'] == 3
    assert settings['weights'] == 'the EMA weights'
    # the same images in one batch (to a grey level: kernels for other batch sizes may round
    # differently); another seed gives others
    again = run(config, ckpt, tmp_path / 'b', '--num', '5', '--batch-size', '64')
    assert (again.int() - imgs.int()).abs().max() <= 1
    other = run(config, ckpt, tmp_path / 'c', '--num', '5', '--seed', '1')
    assert not torch.equal(other, imgs)
    assert (imgs.float().std(dim=(1, 2, 3)) > 1).all()  # not blank


def test_ema_and_trained_weights_and_the_ddim_sampler(tmp_path):
    config = small_config(tmp_path)
    ckpt = str(tmp_path / 'c.pth')
    averaged, trained = checkpoint(config, ckpt)
    ema = run(config, ckpt, tmp_path / 'ema', '--num', '2')
    raw = run(config, ckpt, tmp_path / 'raw', '--num', '2', '--no-ema')
    init_default_scope('mmagic')
    model = MODELS.build(Config.fromfile(config).model)
    for weights, got in ((averaged, ema), (trained, raw)):
        model.load_state_dict(weights)
        assert torch.equal(model.infer(num_samples=2, num_steps=3, seed=0), got)
    assert json.load(open(tmp_path / 'raw' / 'generate.json'))['weights'].startswith(
        'the trained weights')
    ddim = run(config, ckpt, tmp_path / 'ddim', '--num', '2', '--sampler', 'ddim')
    assert not torch.equal(ddim, ema)  # the default is DDPM
    assert json.load(open(tmp_path / 'ddim' / 'generate.json'))['sampler'] == 'ddim'


def test_flow_matching_samples_with_its_ode_solvers(tmp_path):
    config = small_config(tmp_path, 'configs/synthetic_hands_flow_temporal_cpu.py')
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt, ema=False)
    euler = run(config, ckpt, tmp_path / 'e', '--num', '2')
    assert json.load(open(tmp_path / 'e' / 'generate.json'))['sampler'] == 'euler'
    heun = run(config, ckpt, tmp_path / 'h', '--num', '2', '--sampler', 'heun')
    assert euler.shape == heun.shape == (2, 3, 16, 16) and not torch.equal(euler, heun)
    with pytest.raises(SystemExit, match=r"--sampler 'ddim': this model samples with one of "
                       r"\('euler', 'heun'\)"):
        run(config, ckpt, tmp_path / 'd', '--sampler', 'ddim')


def test_a_checkpoint_of_another_objective_is_refused_by_name(tmp_path):
    """DDPM and flow-matching networks share weight names: the checkpoint's record of what it
    was trained as is what tells them apart, for generate and export alike."""
    ddpm = small_config(tmp_path)
    flow = small_config(tmp_path, 'configs/synthetic_hands_flow_temporal_cpu.py', 'flow.py')
    ckpt = str(tmp_path / 'flow.pth')
    checkpoint(flow, ckpt)
    with pytest.raises(SystemExit, match=r"trained as another model(.|\n)*objective: "
                       r"checkpoint 'FlowVelocityObjective', this config '\w+Objective'"
                       r"(.|\n)*prediction_type: checkpoint 'flow'(.|\n)*--allow-mismatch"):
        run(ddpm, ckpt, tmp_path / 'o')
    export = load_tool('tools/export_diffusers.py')
    with pytest.raises(SystemExit, match='trained as another model'):
        export.main([ddpm, ckpt, str(tmp_path / 'pipe')])
    clip3 = small_config(tmp_path, 'configs/synthetic_hands_clip3_temporal_cpu.py', 'c3.py')
    ddpm_ckpt = str(tmp_path / 'ddpm.pth')
    checkpoint(ddpm, ddpm_ckpt)
    with pytest.raises(SystemExit, match=r'frames_per_clip: checkpoint 2, this config 3'):
        run(clip3, ddpm_ckpt, tmp_path / 'c')
    run(ddpm, ckpt, tmp_path / 'forced', '--num', '1', '--allow-mismatch')  # the opt-in
    run(ddpm, ddpm_ckpt, tmp_path / 'same', '--num', '1')


def test_bad_input_is_refused_with_the_way_forward(tmp_path):
    config = small_config(tmp_path)
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    wide = small_config(tmp_path, name='wide.py')
    with open(wide, 'a') as f:
        f.write("model['unet']['base_channels'] = 32\n")
    with pytest.raises(SystemExit, match='does not match the model of this config(.|\n)*'
                       'mis_shaped(.|\n)*--allow-mismatch'):
        run(wide, ckpt, tmp_path / 'w')
    run(config, ckpt, tmp_path / 'o', '--num', '2')
    with pytest.raises(SystemExit, match=r'already holds 4 of the files .* --overwrite'):
        run(config, ckpt, tmp_path / 'o', '--num', '2')
    run(config, ckpt, tmp_path / 'o', '--num', '2', '--overwrite')
    with pytest.raises(SystemExit, match='--num must be >= 1, got 0'):
        run(config, ckpt, tmp_path / 'z', '--num', '0')
    with pytest.raises(SystemExit, match='checkpoint .*missing.pth does not exist'):
        run(config, str(tmp_path / 'missing.pth'), tmp_path / 'm')


def test_an_output_that_cannot_be_written_fails_before_sampling(tmp_path, monkeypatch):
    """--out onto a file, or under a path no folder can be made at, stops at once, not
    after minutes of sampling."""
    config = small_config(tmp_path)
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    monkeypatch.setattr(generate, 'model_of_args',
                        lambda *a: pytest.fail('checked before the model is loaded'))
    (tmp_path / 'taken.png').write_bytes(b'x')
    with pytest.raises(SystemExit, match=r'--out .*taken.png is a file, not a folder'):
        run(config, ckpt, tmp_path / 'taken.png')
    with pytest.raises(SystemExit, match=r'cannot write into --out .*taken.png/sub'):
        run(config, ckpt, tmp_path / 'taken.png' / 'sub')

"""The sampler benchmarks: benchmarks.sampler_grain's DDIM is the model's own, and
benchmarks.rescore repeats a run's validation with only the given options changed."""
import json
import os.path as osp

import pytest
import torch
from mmagic.registry import MODELS

import vidreg_mm  # noqa: F401

from .test_samples_not_noise import TINY_UNET
from benchmarks import rescore, sampler_grain


def tiny_model():
    model = MODELS.build(dict(type='TemporalDiffusionModel', unet=TINY_UNET,
                              diffusion_scheduler=dict(type='DDPMScheduler',
                                                       num_train_timesteps=100))).eval()
    torch.manual_seed(0)
    for p in model.unet.parameters():  # a network whose output is not 0
        p.data.normal_(0, 0.05)
    return model


def test_the_benchmarks_ddim_at_eta_0_is_the_models_ddim_and_eta_adds_noise():
    model = tiny_model()
    noise = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    ours = sampler_grain.ddim_eta(model, noise, 5, lambda t: 0.0, seed=0)
    theirs = model.data_preprocessor.destruct(model.sample(noise, 5, 'ddim'))
    assert torch.equal(ours, theirs)
    stochastic = sampler_grain.ddim_eta(model, noise, 5, lambda t: 1.0, seed=0)
    assert (stochastic - ours).abs().max() > 1
    # eta switched per timestep: only the steps below t = 40 add noise
    late = sampler_grain.ddim_eta(model, noise, 5, lambda t: 1.0 if t < 40 else 0.0, seed=0)
    assert not torch.equal(late, ours) and not torch.equal(late, stochastic)


def write_config(path, val, test):
    path.write_text(f'val_evaluator = dict(metrics={val!r})\n'
                    f'test_evaluator = dict(metrics={test!r})\n')
    return str(path)


def test_rescoring_keeps_the_runs_sample_counts_and_refuses_other_test_metrics(tmp_path):
    val = dict(fid_val=dict(type='FrameFID', fake_nums=256), roughness=dict(
        type='SampleRoughness', fake_nums=128))
    test = dict(fid_val=dict(type='FrameFID', fake_nums=1000), roughness=dict(
        type='SampleRoughness', fake_nums=1000))
    config = write_config(tmp_path / 'run.py', val, test)
    assert rescore.evaluation_options(config, ['model.sampler=ddpm']) == [
        'test_evaluator.metrics.fid_val.fake_nums=256',
        'test_evaluator.metrics.roughness.fake_nums=128', 'model.sampler=ddpm']
    other = write_config(tmp_path / 'other.py', val, dict(fid_val=test['fid_val']))
    with pytest.raises(ValueError, match=r"other.py: val_evaluator.metrics \['fid_val', "
                       r"'roughness'\] and test_evaluator.metrics \['fid_val'\] differ"):
        rescore.evaluation_options(other, [])
    assert rescore.tag_of(['model.sampler=ddpm', 'model.num_sample_steps=50']) == \
        'sampler-ddpm_num_sample_steps-50'


def test_a_run_folder_gives_its_one_config_and_its_checkpoints_by_iteration(tmp_path):
    run = tmp_path / 'baseline_seed2'
    run.mkdir()
    with pytest.raises(FileNotFoundError, match='expected the one config the Runner wrote'):
        rescore.run_config(str(run))
    (run / 'baseline.py').write_text('x = 1\n')
    assert rescore.run_config(str(run)) == str(run / 'baseline.py')
    with pytest.raises(FileNotFoundError, match='no iter_<N>.pth checkpoints to score'):
        rescore.checkpoints(str(run))
    for k in (500, 1000):
        (run / f'iter_{k}.pth').write_bytes(b'')
    (run / 'best_FID-val_fid_iter_1000.pth').write_bytes(b'')
    assert rescore.checkpoints(str(run)) == {500: str(run / 'iter_500.pth'),
                                             1000: str(run / 'iter_1000.pth')}


def test_rescored_curves_are_read_by_iteration_and_metric(tmp_path):
    for k, fid in ((1000, 40.0), (500, 90.0)):
        with open(osp.join(tmp_path, f'evaluation_iter_{k}.json'), 'w') as f:
            json.dump(dict(metrics={'FID-train/fid': fid, 'FID-train/mean': 1.0,
                                    'Roughness/roughness': fid / 10}), f)
    curves = rescore.rescored_curves(str(tmp_path))
    assert curves == {'FID-train/fid': {'500': 90.0, '1000': 40.0},
                      'Roughness/roughness': {'500': 9.0, '1000': 4.0}}
    assert list(curves['FID-train/fid']) == ['500', '1000']

"""Latent space: a frozen AutoencoderKL between the data and the denoiser (tiny, random
autoencoders built by config; no weights needed)."""
import json
import os
import os.path as osp

import pytest
import torch
from mmagic.registry import MODELS

from vidreg_mm.models.latent import LatentSpace, build_autoencoder, weights_fingerprint

from .conftest import ROOT
from .test_train_runner import load_train_tool, logged, small_eval, train

#: a tiny f = 2 autoencoder: 3 x 16 x 16 frames <-> 4 x 8 x 8 latents
TINY_AE = dict(type='AutoencoderKL', in_channels=3, out_channels=3,
               down_block_types=['DownEncoderBlock2D'] * 2,
               up_block_types=['UpDecoderBlock2D'] * 2, block_out_channels=[8, 8],
               layers_per_block=1, latent_channels=4, norm_num_groups=4, scaling_factor=0.5)
LATENT_UNET = dict(type='UNet2DModel', sample_size=8, in_channels=4, out_channels=4,
                   block_out_channels=(16, 16), layers_per_block=1,
                   down_block_types=('DownBlock2D', 'DownBlock2D'),
                   up_block_types=('UpBlock2D', 'UpBlock2D'), norm_num_groups=8)
NO_CLIP = dict(type='DDPMScheduler', num_train_timesteps=1000, beta_schedule='linear',
               prediction_type='epsilon', clip_sample=False)


def latent_model(autoencoder=TINY_AE, **kwargs):
    kwargs.setdefault('diffusion_scheduler', NO_CLIP)
    return MODELS.build(dict(type='TemporalDiffusionModel', unet=LATENT_UNET,
                             autoencoder=autoencoder, **kwargs))


def saved_autoencoder(path, seed=0):
    torch.manual_seed(seed)
    vae = build_autoencoder(TINY_AE)
    vae.save_pretrained(str(path))
    return str(path)


def clips(b=2, t=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, size, size, generator=g) * 2 - 1


def test_encode_is_one_posterior_draw_scaled_and_decode_inverts_the_scaling():
    space = LatentSpace(TINY_AE)
    x = clips()
    z = space.encode(x, torch.Generator().manual_seed(1))
    assert z.shape == (2, 2, 4, 8, 8)
    # closed form: (mean + std * eps) * scaling_factor, eps from the same generator
    mean, logvar = space.vae.encode(x.flatten(0, 1)).latent_dist.parameters.chunk(2, dim=1)
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
    expected = (mean + torch.exp(0.5 * logvar.clamp(-30, 20)) * eps) * 0.5
    torch.testing.assert_close(z.flatten(0, 1), expected, atol=1e-5, rtol=1e-5)
    frames = space.decode(z.flatten(0, 1))
    assert frames.shape == (4, 3, 16, 16)
    torch.testing.assert_close(frames, space.vae.decode(z.flatten(0, 1) / 0.5).sample)


def test_the_autoencoder_is_frozen_and_stays_in_eval_mode():
    model = latent_model()
    model.train()
    assert model.unet.training and not model.latent.vae.training
    assert not any(p.requires_grad for p in model.latent.vae.parameters())
    loss = model(clips(), mode='loss')
    sum(v for k, v in loss.items() if k.startswith('loss_')).backward()
    assert all(p.grad is None for p in model.latent.vae.parameters())
    assert all(p.grad is not None for p in model.unet.parameters() if p.requires_grad)


def test_the_loss_acts_on_the_latents_with_one_encoder_pass(monkeypatch):
    model = latent_model()
    seen, calls = {}, []
    encode = model.latent.vae.encode
    monkeypatch.setattr(model.latent.vae, 'encode', lambda x: calls.append(x.shape) or encode(x))

    def loss(denoise, x0, scheduler, iteration):
        seen['x0'] = x0
        return dict(loss_simple=x0.sum())

    monkeypatch.setattr(model.loss, 'forward', loss)
    model(clips(b=3), mode='loss')
    assert calls == [(6, 3, 16, 16)]  # B x T frames in one pass
    assert seen['x0'].shape == (3, 2, 4, 8, 8)


def test_samples_are_decoded_pixels():
    model = latent_model()
    imgs = model.infer(num_samples=3, num_steps=2, batch_size=2)
    assert imgs.shape == (3, 3, 16, 16) and imgs.dtype == torch.uint8
    out = model.predict(None, num_samples=2)
    assert out[0].fake_img.shape == (3, 16, 16)


@pytest.mark.parametrize('change, message', [
    (dict(unet=dict(LATENT_UNET, in_channels=3, out_channels=3)),
     '4-channel latents but the denoiser takes 3 channels: set model.unet.in_channels'),
    (dict(diffusion_scheduler=dict(NO_CLIP, clip_sample=True)),
     'model.diffusion_scheduler.clip_sample must be False in latent space'),
    (dict(data_preprocessor=dict(type='FramePairDataPreprocessor', mean=0.0, std=255.0)),
     r'model.data_preprocessor has mean, std = \(0.0, 255.0\); the autoencoder encodes frames '
     r'in \[-1, 1\]'),
    (dict(autoencoder=dict(type='AutoencoderKL', from_pretrained='/nonexistent/vae')),
     r"model.autoencoder.from_pretrained='/nonexistent/vae' is not a folder.*nothing is "
     'downloaded'),
])
def test_invalid_latent_configs_are_refused_naming_the_key(change, message):
    cfg = dict(type='TemporalDiffusionModel', unet=LATENT_UNET, autoencoder=TINY_AE,
               diffusion_scheduler=NO_CLIP)
    cfg.update(change)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        MODELS.build(cfg)


def test_a_latent_denoiser_without_an_autoencoder_and_a_cache_without_one_are_refused():
    with pytest.raises(ValueError, match='in pixel space it takes 3 .*model.autoencoder'):
        MODELS.build(dict(type='TemporalDiffusionModel', unet=LATENT_UNET))
    with pytest.raises(ValueError, match='model.latent_cache_dir is set but model.autoencoder'):
        MODELS.build(dict(type='TemporalDiffusionModel', unet=dict(LATENT_UNET, in_channels=3,
                                                                   out_channels=3),
                          latent_cache_dir='x'))


def test_wrong_frame_size_names_the_latent_relation():
    model = latent_model()
    with pytest.raises(ValueError, match=r'model samples 16 x 16 images \(latents of 8 x 8, '
                       r'the autoencoder downsamples 2x\)'):
        model(clips(size=32), mode='loss')


def test_folder_weights_stay_out_of_checkpoints_and_other_weights_are_refused(tmp_path):
    folder = saved_autoencoder(tmp_path / 'vae')
    model = latent_model(dict(type='AutoencoderKL', from_pretrained=folder))
    state = model.state_dict()
    assert not any(k.startswith('latent.vae.') for k in state)
    assert 'latent.fingerprint_bytes' in state
    other = latent_model(dict(type='AutoencoderKL', from_pretrained=folder))
    other.load_state_dict(state, strict=True)  # the folder's weights are kept
    assert weights_fingerprint(other.latent.vae) == model.latent.fingerprint
    # a checkpoint trained with other autoencoder weights
    changed = saved_autoencoder(tmp_path / 'vae2', seed=1)
    third = latent_model(dict(type='AutoencoderKL', from_pretrained=changed))
    with pytest.raises(RuntimeError, match='trained with other autoencoder weights'):
        third.load_state_dict(state)
    # an autoencoder built from a config: its weights are the checkpoint's
    built = latent_model()
    assert any(k.startswith('latent.vae.') for k in built.state_dict())


def test_the_latent_cache_gives_the_encoder_s_moments_and_is_keyed_by_weights(tmp_path):
    model = latent_model(latent_cache_dir=str(tmp_path / 'cache'))
    frames = clips(b=3).flatten(0, 1)
    direct = model.latent._moments(frames)
    first = model.latent.moments(frames)
    assert model.latent.cache.misses == 6 and model.latent.cache.hits == 0
    second = model.latent.moments(frames[[5, 0]])
    assert model.latent.cache.hits == 2
    torch.testing.assert_close(first, direct)
    torch.testing.assert_close(second, direct[[5, 0]])
    files = [f for _, _, fs in os.walk(tmp_path / 'cache') for f in fs]
    assert len(files) == 6 and all(f.endswith('.pt') for f in files)
    # other autoencoder weights never read these entries
    torch.manual_seed(7)
    other = latent_model(latent_cache_dir=str(tmp_path / 'cache'))
    torch.testing.assert_close(other.latent.moments(frames), other.latent._moments(frames))
    assert other.latent.cache.hits == 0
    # a damaged entry is recomputed
    with open(osp.join(model.latent.cache.dir, os.listdir(model.latent.cache.dir)[0],
                       os.listdir(osp.join(model.latent.cache.dir,
                                           os.listdir(model.latent.cache.dir)[0]))[0]),
              'wb') as f:
        f.write(b'broken')
    torch.testing.assert_close(model.latent.moments(frames), direct)


def latent_config(tmp_path, autoencoder):
    """The shipped latent recipe on 32 px frames with a small denoiser."""
    path = tmp_path / 'latent.py'
    path.write_text(
        f"_base_ = [{osp.join(ROOT, 'configs', 'synthetic_hands_latent_temporal_cpu.py')!r}]\n"
        'train_dataloader = dict(dataset=dict(frame_size=32))\n'
        'val_dataloader = dict(dataset=dict(frame_size=32))\n'
        'test_dataloader = val_dataloader\n'
        f"model = dict(unet=dict(_delete_=True, **{dict(LATENT_UNET, sample_size=16)!r}), "
        f'autoencoder=dict(_delete_=True, **{autoencoder!r}), '
        f"latent_cache_dir={str(tmp_path / 'cache')!r})\n")
    return str(path)


def test_training_through_the_runner_resumes_and_samples(handco_root, tmp_path):
    config = latent_config(tmp_path, TINY_AE)
    runner = train(config, tmp_path, handco_root, iters=20, batch=4,
                   extra=['default_hooks.checkpoint.interval=10'])
    losses = [r['loss'] for r in logged(runner) if 'loss' in r]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    evaluation = [r for r in logged(runner) if 'FID-train/fid' in r]
    assert len(evaluation) == 1 and evaluation[0]['Roughness/roughness'] > 0
    cache = runner.model.latent.cache  # the training frames' posteriors were cached
    assert cache.misses > 0 and cache.hits > 0 and cache.dir.startswith(str(tmp_path))
    grids = [f for _, _, fs in os.walk(tmp_path) for f in fs if f.endswith('.png')]
    assert grids  # the sample grid hook decoded its samples
    # resume: the autoencoder built from the config comes back with the checkpoint's weights
    resumed = load_train_tool().main([
        config, '--work-dir', str(tmp_path / 'resumed'), '--resume',
        osp.join(tmp_path, 'iter_10.pth'), '--cfg-options', 'train_cfg.max_iters=20',
        'train_dataloader.batch_size=4', 'default_hooks.logger.interval=5',
        *small_eval(handco_root)])
    assert resumed.iter == 20
    assert [r['iter'] for r in logged(resumed) if 'loss' in r] == [15, 20]
    first, second = runner.model.latent.vae.state_dict(), resumed.model.latent.vae.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_the_shipped_latent_recipe_fits_its_autoencoder_on_first_use(handco_root, tmp_path):
    folder = str(tmp_path / 'ae')
    fit = ['model.autoencoder.train_if_missing.iters=6',
           'model.autoencoder.train_if_missing.batch_size=4',
           f'model.autoencoder.train_if_missing.dataset.data_root={handco_root}',
           f'model.autoencoder.from_pretrained={folder}',
           f"model.latent_cache_dir={tmp_path / 'cache'}"]
    runner = train('synthetic_hands_latent_temporal_cpu.py', tmp_path / 'w', handco_root,
                   iters=5, batch=2, extra=fit)
    assert runner.iter == 5
    report = json.load(open(osp.join(folder, 'fit.json')))
    assert report['latent_shape'] == [4, 32, 32] and report['frame_size'] == [64, 64]
    assert report['psnr_val'] > 5 and report['num_train_frames'] == 36
    assert runner.model.latent.scaling_factor == pytest.approx(report['scaling_factor'],
                                                               rel=1e-4)
    # kept: a second run loads the folder and fits nothing
    stamp = os.stat(osp.join(folder, 'config.json')).st_mtime_ns
    train('synthetic_hands_latent_temporal_cpu.py', tmp_path / 'w2', handco_root, iters=2,
          batch=2, extra=fit)
    assert os.stat(osp.join(folder, 'config.json')).st_mtime_ns == stamp


def test_a_latent_model_exports_as_an_ldm_pipeline_that_samples_what_generate_samples(
        tmp_path):
    from diffusers import LDMPipeline

    from .test_export_diffusers import export, generate, pipeline_images
    from .test_generate import checkpoint
    folder = saved_autoencoder(tmp_path / 'vae')
    config = latent_config(tmp_path, dict(type='AutoencoderKL', from_pretrained=folder))
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    out = str(tmp_path / 'pipe')
    export.main([config, ckpt, out])
    assert {'model_index.json', 'unet', 'vqvae', 'scheduler'} <= set(os.listdir(out))
    pipe = LDMPipeline.from_pretrained(out)
    assert type(pipe.vqvae).__name__ == 'AutoencoderKL'
    ours = generate.main([config, ckpt, '--out', str(tmp_path / 'g'), '--num', '3',
                          '--steps', '4', '--sampler', 'ddim'])
    assert ours.shape == (3, 3, 32, 32)
    theirs = pipeline_images(pipe, 3, 4)
    assert (ours.int() - theirs.int()).abs().max() <= 1
    assert (ours.float().std(dim=(1, 2, 3)) > 1).all()  # images, not a blank


def test_the_step_cost_benchmark_times_encoder_and_cache(tmp_path):
    from benchmarks import latent_step_cost
    config = latent_config(tmp_path, TINY_AE)
    out = str(tmp_path / 'cost.json')
    report = latent_step_cost.main(['--config', config, '--batch-size', '2', '--warmup', '1',
                                    '--rounds', '2', '--out', out])
    assert json.load(open(out))['frames_per_step'] == 4 == report['frames_per_step']
    assert report['latent_shape'] == [4, 16, 16] and report['pixel_size'] == 32
    # the cached model encoded the batch once (warm-up) and read it from disk afterwards
    assert report['cache'] == dict(misses=4, hits=4 * 2)
    # the three timings, each of every round (their ratios are the benchmark's, not a test's)
    assert sorted(report['seconds']) == ['cached', 'encoder', 'uncached']
    assert all(len(t) == 2 and min(t) > 0 for t in report['seconds'].values())
    assert report['encoder_share_of_uncached_step'] == pytest.approx(
        report['median_seconds']['encoder'] / report['median_seconds']['uncached'])


def test_the_autoencoder_tool_fits_refuses_to_clobber_and_overwrites(handco_root, tmp_path,
                                                                     capsys):
    from .conftest import load_tool
    tool = load_tool('tools/train_autoencoder.py')
    folder = str(tmp_path / 'ae')
    opts = ['--cfg-options', f'model.autoencoder.from_pretrained={folder}',
            'model.autoencoder.train_if_missing.iters=3',
            'model.autoencoder.train_if_missing.batch_size=2',
            f'model.autoencoder.train_if_missing.dataset.data_root={handco_root}']
    config = osp.join(ROOT, 'configs', 'synthetic_hands_latent_temporal_cpu.py')
    report = tool.main([config, *opts])
    assert report['iters'] == 3 and report['psnr_val'] == json.load(
        open(osp.join(folder, 'fit.json')))['psnr_val']
    with pytest.raises(SystemExit, match='exists .*--overwrite'):
        tool.main([config, *opts])
    again = tool.main([config, '--overwrite', *opts[:2],
                       'model.autoencoder.train_if_missing.iters=4', *opts[3:]])
    assert again['iters'] == 4 and sorted(os.listdir(tmp_path)) == ['ae']
    with pytest.raises(SystemExit, match='no model.autoencoder.from_pretrained'):
        tool.main([osp.join(ROOT, 'configs', 'synthetic_hands_temporal_cpu.py')])


def test_the_handco_latent_config_fits_an_f8_autoencoder_and_names_the_missing_folder(
        tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'handco_temporal_latent.py'))
    with pytest.raises(FileNotFoundError, match='sd-vae-ft-mse.* is not a folder.*docs/latent'):
        MODELS.build(cfg.model)
    torch.manual_seed(0)  # a tiny autoencoder of Stable Diffusion's shape: f = 8, 4 channels
    f8 = dict(TINY_AE, down_block_types=['DownEncoderBlock2D'] * 4,
              up_block_types=['UpDecoderBlock2D'] * 4, block_out_channels=[8] * 4)
    build_autoencoder(f8).save_pretrained(str(tmp_path / 'vae'))
    cfg.model.autoencoder.from_pretrained = str(tmp_path / 'vae')
    cfg.model.unet.base_channels = 32  # small enough for a test; the shapes are the config's
    model = MODELS.build(cfg.model)
    assert model.pixel_size == cfg.resolution == 256 and model.image_size == 32
    assert model.latent.factor == 8 and model.latent.cache_dir == cfg.model.latent_cache_dir

"""Data preprocessor and TemporalDiffusionModel: batching, backbones, sampling, overfitting."""
import pytest
import torch
from mmagic.registry import MODELS
from mmagic.structures import DataSample

import vidreg_mm  # noqa: F401

SMALL_UNET = dict(type='DenoisingUnet', image_size=16, base_channels=16,
                  resblocks_per_downsample=1, channels_cfg=[1, 2], attention_res=[],
                  norm_cfg=dict(type='GN', num_groups=8),
                  output_cfg=dict(var='fixed'))
SMALL_UNET2D = dict(type='UNet2DModel', sample_size=16, in_channels=3, out_channels=3,
                    block_out_channels=(16, 32), layers_per_block=1,
                    down_block_types=('DownBlock2D', 'DownBlock2D'),
                    up_block_types=('UpBlock2D', 'UpBlock2D'), norm_num_groups=8)


def zero_net(seen: dict):
    """A denoiser that predicts 0 and records the timesteps it is called with."""
    def net(x_t, t):
        seen['t'] = t
        return torch.zeros_like(x_t)
    return net


def build(unet=SMALL_UNET, **kwargs):
    return MODELS.build(dict(type='TemporalDiffusionModel', unet=unet, **kwargs))


def uint8_pairs(b=4, t=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (t, 3, size, size), generator=g, dtype=torch.uint8)
            for _ in range(b)]


# -- data preprocessor -------------------------------------------------------------------------
def test_preprocessor_normalises_and_keeps_the_clip_axis():
    pre = MODELS.build(dict(type='FramePairDataPreprocessor'))
    samples = uint8_pairs(b=3)
    samples[0][0].fill_(0)
    samples[0][1].fill_(255)
    out = pre(dict(inputs=samples, data_samples=[DataSample()] * 3), training=True)
    x = out['inputs']
    assert x.shape == (3, 2, 3, 16, 16) and x.dtype == torch.float32
    assert set(out) == {'inputs', 'data_samples'}  # the shape says how many frames
    assert torch.all(x[0, 0] == -1) and torch.all(x[0, 1] == 1)  # pair 0 = x[0]
    for k in range(3):
        for t in range(2):
            assert torch.allclose(x[k, t], samples[k][t].float() / 127.5 - 1, atol=1e-6)
    assert torch.allclose(pre.destruct(x[1, 0]), samples[1][0].float(), atol=1e-4)


@pytest.mark.parametrize('t', [1, 3])
def test_preprocessor_takes_any_number_of_frames_through_the_same_code(t):
    pre = MODELS.build(dict(type='FramePairDataPreprocessor'))
    assert pre(dict(inputs=uint8_pairs(b=5, t=t)))['inputs'].shape == (5, t, 3, 16, 16)


def test_preprocessor_rejects_mixed_shapes():
    pre = MODELS.build(dict(type='FramePairDataPreprocessor'))
    with pytest.raises(ValueError, match='one shape'):
        pre(dict(inputs=uint8_pairs(b=1) + uint8_pairs(b=1, t=1)))


# -- the model ---------------------------------------------------------------------------------
@pytest.mark.parametrize('unet', [SMALL_UNET, SMALL_UNET2D], ids=['DenoisingUnet', 'UNet2DModel'])
def test_both_denoiser_output_conventions_give_losses_and_samples(unet):
    model = build(unet)
    data = model.data_preprocessor(dict(inputs=uint8_pairs()), True)
    losses = model(**data, mode='loss')
    assert set(losses) >= {'loss_simple', 'loss_temporal', 'temporal_lambda'}
    assert all(torch.isfinite(v) for v in losses.values())
    assert model.infer(num_samples=2, num_steps=2).shape == (2, 3, 16, 16)


def test_sampling_shapes_and_determinism_for_a_seed():
    model = build()
    torch.manual_seed(0)
    for p in model.unet.parameters():  # a non-trivial network (the output layer starts at 0)
        p.data.normal_(0, 0.05)
    a = model.infer(num_samples=5, num_steps=4, sampler='ddim', seed=3, batch_size=2)
    assert a.shape == (5, 3, 16, 16) and a.dtype == torch.uint8
    assert torch.equal(a, model.infer(num_samples=5, num_steps=4, sampler='ddim', seed=3,
                                      batch_size=2))
    assert not torch.equal(a, model.infer(num_samples=5, num_steps=4, sampler='ddim', seed=4))
    ddpm = model.infer(num_samples=3, num_steps=4, sampler='ddpm', seed=3, batch_size=3)
    assert torch.equal(ddpm, model.infer(num_samples=3, num_steps=4, sampler='ddpm', seed=3))
    assert not torch.equal(ddpm[0], ddpm[1])
    # a sample depends on its own seed only, not on the batch it is drawn in: for DDIM and
    # for DDPM, whose steps add noise (one generator per sample)
    assert torch.equal(a[:2], model.infer(num_samples=2, num_steps=4, sampler='ddim', seed=3,
                                          batch_size=8))
    assert (ddpm[:2].int() - model.infer(num_samples=2, num_steps=4, sampler='ddpm', seed=3,
                                          batch_size=1).int()).abs().max() <= 1


def test_predict_returns_data_samples_with_fake_images_seeded_by_sample_index():
    model = build(num_sample_steps=3)
    samples = [DataSample(metainfo=dict(sample_idx=i, clip_id=f'c{i}')) for i in (7, 8)]
    data = model.data_preprocessor(dict(inputs=uint8_pairs(b=2, t=1), data_samples=samples))
    out = model.val_step(dict(inputs=uint8_pairs(b=2, t=1), data_samples=samples))
    assert len(out) == 2 and out[0].clip_id == 'c7'
    img = out[0].fake_img
    assert img.shape == (3, 16, 16) and 0 <= img.min() and img.max() <= 255
    alone = model(**dict(data, data_samples=samples[1:], inputs=data['inputs'][1:]),
                  mode='predict')
    assert torch.equal(alone[0].fake_img, out[1].fake_img)


def test_overfit_a_fixed_batch():
    """Same frames, timesteps and noise every step: the loss must fall well below its start."""
    torch.manual_seed(0)
    model = build()
    data = model.data_preprocessor(dict(inputs=uint8_pairs(b=2)), True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        terms = model.loss(model.denoise, data['inputs'], model.objective,
                           generator=torch.Generator().manual_seed(0))
        total = terms['loss_simple'] + terms['loss_temporal']
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(total.item())
    assert all(map(lambda v: v == v and abs(v) < float('inf'), losses))
    assert losses[-1] < 0.3 * losses[0], losses[::10]


def test_one_scheduler_owns_the_schedule_and_the_prediction_type_of_training_and_sampling():
    model = build(diffusion_scheduler=dict(type='DDPMScheduler', num_train_timesteps=500,
                                           beta_schedule='scaled_linear',
                                           prediction_type='v_prediction'))
    assert model.objective.prediction_type == 'v_prediction'
    for name in ('ddpm', 'ddim'):
        sampler = model.objective.sampler_scheduler(name)
        assert type(sampler).__name__ == {'ddpm': 'DDPMScheduler', 'ddim': 'DDIMScheduler'}[name]
        assert sampler.config.prediction_type == 'v_prediction'
        assert torch.equal(sampler.alphas_cumprod, model.scheduler.alphas_cumprod)
    # the loss reads the same scheduler: with x0 = 0 and a zero prediction, the target is
    # the velocity sqrt(a_t) eps, so L_simple = E[a_t] over the drawn timesteps
    seen = {}
    x0 = torch.zeros(8, 2, 3, 16, 16)
    terms = model.loss(zero_net(seen), x0, model.objective,
                       generator=torch.Generator().manual_seed(0))
    a = model.scheduler.alphas_cumprod[seen['t']]
    assert seen['t'].max() < 500
    assert float(terms['loss_simple']) == pytest.approx(float(a.mean()), rel=0.05)


@pytest.mark.parametrize('kwargs, match', [
    (dict(diffusion_scheduler=dict(type='DDPMScheduler', prediction_type='noise')),
     "model.diffusion_scheduler must be .* prediction_type='noise'"),
    (dict(diffusion_scheduler=dict(type='EditDDPMScheduler')),
     'model.diffusion_scheduler must be a diffusers DDPM-type scheduler .* EditDDPMScheduler'),
    (dict(sampler='euler'), 'model.sampler'),
    (dict(num_sample_steps=0), 'model.num_sample_steps'),
    # the scheduler owns the schedule and the prediction type: DenoisingUnet's own keys for
    # them, which its forward never reads, are refused
    (dict(unet=dict(SMALL_UNET, num_timesteps=1000)),
     r'model.unet.num_timesteps is not read by DenoisingUnet .*'
     r'model.diffusion_scheduler.num_train_timesteps'),
    (dict(unet=dict(SMALL_UNET, output_cfg=dict(mean='eps', var='fixed')),
          diffusion_scheduler=dict(type='DDPMScheduler', prediction_type='v_prediction')),
     r'model.unet.output_cfg.mean is not read .*model.diffusion_scheduler.prediction_type'),
])
def test_bad_model_config_names_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def test_learned_variance_denoiser_is_a_clear_error():
    model = build(dict(SMALL_UNET, output_cfg=dict(var='learned_range')))
    with pytest.raises(ValueError, match=r"returned \(1, 6, 16, 16\) .*var='fixed'"):
        model.denoise(torch.zeros(1, 3, 16, 16), torch.zeros(1, dtype=torch.long))


def test_mmagic_generative_metrics_drive_val_step_unchanged():
    """MMagic's FID sampler and process() consume our outputs (network swapped: offline)."""
    from mmagic.evaluation.metrics import FrechetInceptionDistance
    from torch.utils.data import DataLoader

    class ChannelMeanFID(FrechetInceptionDistance):
        def _load_inception(self, inception_style, inception_path):
            return torch.nn.Identity(), 'channel-means'

        def forward_inception(self, image):  # MMagic passes BGR images; keep BGR means
            return image.float().mean(dim=(2, 3))

    metric = ChannelMeanFID(fake_nums=5)
    model = build(num_sample_steps=2)
    torch.manual_seed(0)
    for p in model.unet.parameters():
        p.data.normal_(0, 0.05)
    sampler = metric.get_metric_sampler(model, DataLoader(list(range(8)), batch_size=2), [metric])
    outputs = []
    for batch in sampler:
        out = model.val_step(batch)
        metric.process(batch, [o.to_dict() for o in out])
        outputs += out
    assert len(outputs) >= 5 and all(o.fake_img.shape == (3, 16, 16) for o in outputs)
    feats = torch.cat(metric.fake_results)
    assert feats.shape == (len(outputs), 3)
    # successive batches are distinct samples; fake_img is BGR: its flip is infer()'s RGB image
    assert not torch.equal(outputs[0].fake_img, outputs[2].fake_img)
    rgb = model.infer(num_samples=2, num_steps=2, seed=0)
    assert outputs[0].fake_img_channel_order == 'bgr'
    assert (outputs[0].fake_img[[2, 1, 0]].round() - rgb[0].float()).abs().max() <= 1


def test_data_size_that_differs_from_the_model_size_is_an_error():
    model = build()  # 16 x 16 samples
    data = model.data_preprocessor(dict(inputs=uint8_pairs(size=32)), True)
    with pytest.raises(ValueError, match=r'data gives \(32, 32\) frames .* 16 x 16 .*image_size'):
        model(**data, mode='loss')


def test_sample_grid_hook_rejects_an_unknown_sampler_when_built():
    from mmagic.registry import HOOKS
    match = "sampler must be one of \\('ddpm', 'ddim', 'euler', 'heun'\\) or None, got 'lms'"
    with pytest.raises(ValueError, match=match):
        HOOKS.build(dict(type='SampleGridHook', sampler='lms'))


def test_sample_grids_are_named_by_the_iterations_done(monkeypatch):
    """As checkpoints are: the grid after 2 of 4 iterations is iter_2, the last iter_4."""
    from types import SimpleNamespace

    from mmagic.registry import HOOKS
    hook = HOOKS.build(dict(type='SampleGridHook', interval=2))
    saved = []
    monkeypatch.setattr(hook, 'save_grid', lambda runner, step: saved.append(step))
    runner = SimpleNamespace(iter=0)
    for i in range(4):  # MMEngine's loop: after_train_iter, then its counter goes up
        runner.iter = i
        hook.after_train_iter(runner, i)
    runner.iter = 4
    hook.after_train(runner)  # 4 is a multiple of the interval: saved already
    assert saved == [2, 4]
    saved.clear()
    runner.iter = 5  # a budget that is not: one more grid at the end
    hook.after_train(runner)
    assert saved == [5]

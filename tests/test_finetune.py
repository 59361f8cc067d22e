"""Fine-tuning (vidreg_mm.models.finetune): starting weights checked key by key, freezing,
LoRA through peft, conditional denoisers on unconditional frames, and fine-tuning runs
through MMEngine's Runner that resume exactly and export what tools/generate.py samples."""
import os.path as osp

import pytest
import torch
from mmagic.registry import MODELS
from mmengine.registry import init_default_scope

from vidreg_mm.engine import CheckpointError
from vidreg_mm.models.finetune import PretrainedError, network_of

from .conftest import ROOT, load_tool
from .test_generate import checkpoint
from .test_model import SMALL_UNET2D
from .test_train_runner import small_eval

generate = load_tool('tools/generate.py')
export = load_tool('tools/export_diffusers.py')
train_tool = load_tool('tools/train.py')

#: a small UNet2DModel with attention, so that LoRA adapts projections and convolutions
ATTN_UNET2D = dict(SMALL_UNET2D, down_block_types=('DownBlock2D', 'AttnDownBlock2D'),
                   up_block_types=('AttnUpBlock2D', 'UpBlock2D'))
COND_UNET = dict(type='UNet2DConditionModel', sample_size=8, in_channels=4, out_channels=4,
                 block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                 cross_attention_dim=8, attention_head_dim=4,
                 down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'),
                 up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'))
TINY_VAE = dict(type='AutoencoderKL', in_channels=3, out_channels=3, latent_channels=4,
                block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8,
                down_block_types=('DownEncoderBlock2D', 'DownEncoderBlock2D'),
                up_block_types=('UpDecoderBlock2D', 'UpDecoderBlock2D'), sample_size=16)


def build(unet=ATTN_UNET2D, **model):
    init_default_scope('mmagic')
    return MODELS.build(dict(type='TemporalDiffusionModel', unet=unet, num_sample_steps=2,
                             **model))


def network_state(model):
    return {k: v.clone() for k, v in network_of(model.unet).state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def clips(n=2, size=16, channels=3):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 2, channels, size, size, generator=generator) * 2 - 1


@pytest.fixture
def source(tmp_path):
    """A random UNet2DModel (the 'pretrained' network), saved as a model folder, a pipeline
    folder and a safetensors file."""
    from safetensors.torch import save_file

    from vidreg_mm.inference import export_diffusers
    torch.manual_seed(1)
    model = build()
    network_of(model.unet).save_pretrained(str(tmp_path / 'unet_folder'))
    export_diffusers(model, str(tmp_path / 'pipeline'))
    save_file(network_state(model), str(tmp_path / 'unet.safetensors'))
    return model, network_state(model)


def test_weights_start_from_a_model_folder_a_pipeline_or_a_safetensors_file(tmp_path, source):
    _, weights = source
    for path in ('unet_folder', 'pipeline', 'unet.safetensors'):
        model = build(pretrained=dict(path=str(tmp_path / path)))
        assert same(network_state(model), weights), path
        assert model.unet.is_init  # the Runner's init_weights leaves them alone
    assert not same(network_state(build()), weights)  # not what any model starts with


def test_weights_start_from_a_checkpoints_ema_or_trained_weights(tmp_path):
    config = tmp_path / 'c.py'
    base = osp.join(ROOT, 'configs', 'synthetic_hands_unet2d_temporal_cpu.py')
    config.write_text(f"_base_ = [{base!r}]\n"
                      f'model = dict(unet=dict(_delete_=True, **{ATTN_UNET2D!r}))\n')
    averaged, trained = checkpoint(str(config), str(tmp_path / 'c.pth'))
    strip = (lambda w: {k[len('unet.model.'):]: v for k, v in w.items()})  # noqa: E731
    ema = build(pretrained=dict(path=str(tmp_path / 'c.pth')))
    raw = build(pretrained=dict(path=str(tmp_path / 'c.pth'), ema=False))
    assert same(network_state(ema), strip(averaged))
    assert same(network_state(raw), strip(trained))


def test_weights_that_do_not_fit_are_refused_with_their_keys_unless_named(tmp_path, source):
    _, weights = source
    folder = str(tmp_path / 'unet_folder')
    wider_out = dict(ATTN_UNET2D, out_channels=6)
    with pytest.raises(PretrainedError) as e:
        build(unet=wider_out, pretrained=dict(path=folder))
    message = str(e.value)
    assert 'do not fit model.unet (UNet2DModel)' in message
    assert 'mismatched (shapes differ; 2): conv_out.bias (weights (3,), denoiser (6,)), ' \
        'conv_out.weight (weights (3, 16, 3, 3), denoiser (6, 16, 3, 3))' in message
    assert 'model.pretrained.allow_missing / allow_unexpected / allow_mismatched' in message
    model = build(unet=wider_out, pretrained=dict(path=folder, allow_mismatched=['conv_out.*']))
    loaded = network_state(model)
    assert all(torch.equal(loaded[k], weights[k]) for k in weights if not k.startswith('conv_out'))
    assert loaded['conv_out.weight'].shape == (6, 16, 3, 3)  # its own initialisation

    deeper = dict(ATTN_UNET2D, layers_per_block=2)
    with pytest.raises(PretrainedError, match=r'missing \(in the denoiser, not in the weights; '
                       r'\d+\): down_blocks.0.resnets.1.conv1.bias'):
        build(unet=deeper, pretrained=dict(path=folder))
    # a deeper UNet2DModel has more resnets and attentions, and other skip widths above
    model = build(unet=deeper, pretrained=dict(
        path=folder, allow_missing=['*.resnets.1.*', '*.resnets.2.*', '*.attentions.1.*',
                                    '*.attentions.2.*'],
        allow_mismatched=['up_blocks.0.resnets.1.*']))
    assert torch.equal(network_state(model)['conv_in.weight'], weights['conv_in.weight'])
    shallow_source = build(unet=deeper)
    network_of(shallow_source.unet).save_pretrained(str(tmp_path / 'deeper'))
    with pytest.raises(PretrainedError, match=r'unexpected \(in the weights, not in the '
                       r'denoiser; \d+\): down_blocks.0.resnets.1.conv1.bias'):
        build(pretrained=dict(path=str(tmp_path / 'deeper')))


def test_sources_that_are_not_weights_are_refused_naming_the_key(tmp_path, source):
    with pytest.raises(PretrainedError, match=r"model.pretrained.path='.*nowhere' does not "
                       r'exist: give a local diffusers folder.*nothing is downloaded'):
        build(pretrained=dict(path=str(tmp_path / 'nowhere')))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(PretrainedError, match='holds no config.json'):
        build(pretrained=dict(path=str(tmp_path / 'empty')))
    torch.save(dict(state_dict={'other.weight': torch.zeros(1)}), tmp_path / 'other.pth')
    with pytest.raises(PretrainedError, match=r'holds no weights under unet\. \(its keys begin '
                       r'other\)'):
        build(pretrained=dict(path=str(tmp_path / 'other.pth')))
    with pytest.raises(ValueError, match=r'model.pretrained.paht: unknown key'):
        build(pretrained=dict(paht=str(tmp_path / 'pipeline')))
    with pytest.raises(ValueError, match=r'model.unet.from_pretrained loads a folder.*'
                       r'model.unet.from_config=FOLDER.*model.pretrained=dict\(path=FOLDER\)'):
        build(unet=dict(type='UNet2DModel', from_pretrained=str(tmp_path / 'unet_folder')))
    # the architecture from the folder, the weights through the checked path
    model = build(unet=dict(type='UNet2DModel', from_config=str(tmp_path / 'unet_folder')),
                  pretrained=dict(path=str(tmp_path / 'unet_folder')))
    assert same(network_state(model), source[1])


def test_a_pipeline_of_another_objective_is_refused_unless_allowed(tmp_path, source):
    v_pred = dict(type='DDPMScheduler', num_train_timesteps=1000, beta_schedule='linear',
                  prediction_type='v_prediction')
    path = str(tmp_path / 'pipeline')  # trained as epsilon (the default)
    with pytest.raises(PretrainedError, match=r"prediction_type: pretrained 'epsilon', this "
                       r"config 'v_prediction'(.|\n)*allow_other_training=True"):
        build(diffusion_scheduler=v_pred, pretrained=dict(path=path))
    other_betas = dict(v_pred, prediction_type='epsilon', beta_schedule='scaled_linear')
    with pytest.raises(PretrainedError, match=r"schedule beta_schedule: pretrained 'linear', "
                       r"this config 'scaled_linear'"):
        build(diffusion_scheduler=other_betas, pretrained=dict(path=path))
    model = build(diffusion_scheduler=v_pred,
                  pretrained=dict(path=path, allow_other_training=True))
    assert same(network_state(model), source[1])


def test_freezing_by_name_and_a_pattern_that_names_nothing(source):
    model = build(freeze=['down_blocks.0.*', 'conv_in.*'])
    for name, param in network_of(model.unet).named_parameters():
        assert param.requires_grad == (not name.startswith(('down_blocks.0.', 'conv_in.'))), name
    loss = sum(model(clips(), mode='loss')[k] for k in ('loss_simple', 'loss_temporal'))
    loss.backward()
    grads = {n: p.grad for n, p in network_of(model.unet).named_parameters()}
    assert grads['conv_in.weight'] is None and grads['conv_out.weight'].abs().sum() > 0
    with pytest.raises(ValueError, match=r"model.freeze: 'down_block.\*' names no parameter"):
        build(freeze=['down_block.*'])


def test_lora_trains_adapters_only_saves_them_only_and_refuses_other_base_weights(tmp_path,
                                                                                   source):
    path = str(tmp_path / 'pipeline')
    model = build(pretrained=dict(path=path), lora=dict(rank=2))
    trainable = [n for n, p in network_of(model.unet).named_parameters() if p.requires_grad]
    assert trainable and all('lora_' in n for n in trainable)
    assert any('to_q.lora_A' in n for n in trainable)  # attention projections
    assert any('conv1.lora_A' in n for n in trainable)  # and ResNet convolutions
    # adapters start at zero (lora_B = 0): the model is the pretrained one
    x_t, t = torch.randn(2, 3, 16, 16), torch.tensor([10, 500])
    torch.manual_seed(0)
    with torch.no_grad():
        assert torch.allclose(model.denoise(x_t, t), source[0].denoise(x_t, t), atol=1e-6)
        for n, p in network_of(model.unet).named_parameters():
            if 'lora_B' in n:
                p.normal_(0, 0.1)  # as if trained
        adapted = model.denoise(x_t, t)
    state = model.state_dict()
    unet_keys = [k for k in state if k.startswith('unet.')]
    assert unet_keys and all('lora_' in k for k in unet_keys)  # no pretrained weight in it
    assert 'lora_base.fingerprint_bytes' in state
    full = sum(v.numel() for v in source[0].state_dict().values())
    assert sum(state[k].numel() for k in unet_keys) < full / 5

    again = build(pretrained=dict(path=path), lora=dict(rank=2))
    again.load_state_dict(state)  # strict: the base weights are the pretrained ones
    with torch.no_grad():
        assert torch.allclose(again.denoise(x_t, t), adapted, atol=1e-6)
    torch.manual_seed(2)
    other = build()
    network_of(other.unet).save_pretrained(str(tmp_path / 'other_base'))
    elsewhere = build(pretrained=dict(path=str(tmp_path / 'other_base')), lora=dict(rank=2))
    with pytest.raises(CheckpointError, match='trained on other base weights'):
        elsewhere.load_state_dict(state)

    # the merged export loads without peft layers and predicts what the adapted model does
    from diffusers import DDPMPipeline

    from vidreg_mm.inference import export_diffusers
    export_diffusers(model, str(tmp_path / 'merged'))
    unet = DDPMPipeline.from_pretrained(str(tmp_path / 'merged')).unet
    assert not any('lora' in k or 'base_layer' in k for k in unet.state_dict())
    with torch.no_grad():
        assert torch.allclose(unet(x_t, t).sample, adapted, atol=1e-5)
    assert any('lora_' in k for k in network_of(model.unet).state_dict())  # model untouched


def test_lora_and_freeze_options_are_checked(tmp_path, source):
    with pytest.raises(ValueError, match=r'model.lora adapts pretrained weights: set '
                       r'model.pretrained'):
        build(lora=dict(rank=2))
    path = str(tmp_path / 'pipeline')
    with pytest.raises(ValueError, match='model.freeze and model.lora are both set'):
        build(pretrained=dict(path=path), lora=dict(rank=2), freeze=['conv_in.*'])
    with pytest.raises(ValueError, match=r"model.lora.target_modules=\['to_qq'\]"):
        build(pretrained=dict(path=path), lora=dict(target_modules=['to_qq']))
    with pytest.raises(ValueError, match=r'model.lora.rank must be an integer >= 1'):
        build(pretrained=dict(path=path), lora=dict(rank=0))


def test_memory_savers_keep_the_loss_and_its_gradients(source):
    """Gradient checkpointing and the attention implementation change how, not what."""
    torch.manual_seed(3)
    x = clips()

    def loss_and_grads(**options):
        model = build(**options)
        model.load_state_dict(source[0].state_dict())
        model.train()
        torch.manual_seed(4)
        out = model(x, mode='loss')
        loss = out['loss_simple'] + out['loss_temporal']
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.unet.parameters()]

    ref_loss, ref_grads = loss_and_grads()
    for options in (dict(gradient_checkpointing=True), dict(attention='math'),
                    dict(attention='sdpa')):
        loss, grads = loss_and_grads(**options)
        assert torch.allclose(loss, ref_loss, atol=1e-6), options
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, ref_grads)), options
    with pytest.raises(ValueError, match="model.attention must be one of"):
        build(attention='flash')
    from .test_model import SMALL_UNET
    with pytest.raises(ValueError, match='model.gradient_checkpointing: DenoisingUnet has no '
                       'blocks'):
        build(unet=SMALL_UNET, gradient_checkpointing=True)


def latent_conditional(tmp_path, unet=COND_UNET, **model):
    return build(unet=unet, autoencoder=TINY_VAE, image_size=8,
                 diffusion_scheduler=dict(type='DDPMScheduler', num_train_timesteps=1000,
                                          beta_schedule='linear', prediction_type='epsilon',
                                          clip_sample=False),
                 data_preprocessor=dict(type='FramePairDataPreprocessor', mean=127.5,
                                        std=127.5), **model)


def test_a_conditional_unet_trains_on_frames_with_a_fixed_or_learned_embedding(tmp_path):
    embedding = torch.randn(1, 3, 8)
    torch.save(embedding, tmp_path / 'empty_prompt.pt')
    fixed = latent_conditional(tmp_path, conditioning=dict(file=str(tmp_path / 'empty_prompt.pt')))
    assert torch.equal(fixed.conditioning(2), embedding.expand(2, -1, -1))
    out = fixed(clips(), mode='loss')
    (out['loss_simple'] + out['loss_temporal']).backward()
    assert torch.isfinite(out['loss_simple'])
    assert 'conditioning.embedding' in fixed.state_dict()  # the run keeps what it trained with
    # the embedding reaches the network: another one changes the prediction
    x_t, t = torch.randn(2, 4, 8, 8), torch.tensor([5, 600])
    with torch.no_grad():
        before = fixed.denoise(x_t, t)
        fixed.conditioning.embedding.add_(1.0)
        assert not torch.allclose(fixed.denoise(x_t, t), before)
    images = fixed.infer(num_samples=2, num_steps=2)
    assert images.shape == (2, 3, 16, 16) and images.dtype == torch.uint8

    learned = latent_conditional(tmp_path, conditioning=dict(learned_tokens=2))
    out = learned(clips(), mode='loss')
    (out['loss_simple'] + out['loss_temporal']).backward()
    assert learned.conditioning.embedding.grad.abs().sum() > 0  # a null embedding that trains


def test_a_conditional_unet_fine_tunes_with_lora_from_its_folder(tmp_path):
    torch.manual_seed(5)
    base = latent_conditional(tmp_path, conditioning=dict(learned_tokens=1))
    network_of(base.unet).save_pretrained(str(tmp_path / 'unet'))
    model = latent_conditional(
        tmp_path, unet=dict(type='UNet2DConditionModel', from_config=str(tmp_path / 'unet')),
        pretrained=dict(path=str(tmp_path / 'unet')), conditioning=dict(learned_tokens=1),
        lora=dict(rank=2), gradient_checkpointing=True, attention='sdpa')
    model.train()
    out = model(clips(), mode='loss')
    (out['loss_simple'] + out['loss_temporal']).backward()
    grads = [p.grad for n, p in network_of(model.unet).named_parameters() if 'lora_A' in n]
    assert grads and all(g is not None for g in grads)
    assert model.conditioning.embedding.grad is not None  # the learned tokens train too
    from vidreg_mm.inference import ExportError, export_diffusers
    with pytest.raises(ExportError, match='conditional UNet2DConditionModel.*tools/generate.py'):
        export_diffusers(model, str(tmp_path / 'out'))


def test_conditioning_is_refused_where_it_does_not_fit(tmp_path):
    with pytest.raises(ValueError, match=r'model.unet \(UNet2DConditionModel\) needs '
                       r'encoder_hidden_states: set model.conditioning'):
        latent_conditional(tmp_path)
    torch.save(torch.randn(3, 5), tmp_path / 'e.pt')
    with pytest.raises(ValueError, match=r'model.conditioning.file=.*e.pt.*shape \(3, 5\); the '
                       r'denoiser attends to L x 8'):
        latent_conditional(tmp_path, conditioning=dict(file=str(tmp_path / 'e.pt')))
    with pytest.raises(FileNotFoundError, match='model.conditioning.file=.*does not exist'):
        latent_conditional(tmp_path, conditioning=dict(file=str(tmp_path / 'none.pt')))
    with pytest.raises(ValueError, match=r'model.conditioning is set but model.unet '
                       r'\(UNet2DModel\) takes no encoder_hidden_states'):
        build(conditioning=dict(learned_tokens=1))


# -- through the Runner ---------------------------------------------------------------------------
def finetune_config(tmp_path, recipe, pretrained):
    path = tmp_path / f'{recipe}.py'
    path.write_text(
        f"_base_ = [{osp.join(ROOT, 'configs', recipe + '.py')!r}]\n"
        f'model = dict(unet=dict(_delete_=True, **{ATTN_UNET2D!r}), '
        f'pretrained=dict(path={pretrained!r}))\n'
        'train_dataloader = dict(dataset=dict(frame_size=16))\n'
        'val_dataloader = dict(dataset=dict(frame_size=16))\n'
        'test_dataloader = val_dataloader\n')
    return str(path)


def run(config, work_dir, data_root, iters, extra=()):
    return train_tool.main([
        config, '--work-dir', str(work_dir), '--cfg-options', f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}', 'train_dataloader.batch_size=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'randomness.seed=3', 'randomness.deterministic=True', *small_eval(data_root), *extra])


@pytest.mark.parametrize('recipe', ['synthetic_hands_finetune_temporal_cpu',
                                    'synthetic_hands_finetune_lora_temporal_cpu'])
def test_fine_tuning_starts_from_the_weights_resumes_exactly_and_exports(
        recipe, handco_root, tmp_path, source):
    config = finetune_config(tmp_path, recipe, str(tmp_path / 'pipeline'))
    lora = 'lora' in recipe
    # lr 0: what the run saves (its EMA weights too) is what it started from
    still = run(config, tmp_path / 'still', handco_root, 2, ['optim_wrapper.optimizer.lr=0.0'])
    net = network_of(still.model.unet)
    saved = torch.load(tmp_path / 'still' / 'iter_2.pth', map_location='cpu')
    if lora:
        assert all('lora_' in k for k in saved['state_dict'] if k.startswith('unet.'))
        base = {n: p for n, p in net.named_parameters() if 'lora_' not in n}
        assert all(torch.equal(p, source[1][n.replace('.base_layer', '')])
                   for n, p in base.items())
    else:
        # MMEngine's EMAHook swaps on save: state_dict holds the EMA weights, which start as
        # the loaded ones (equal up to the rounding of the average's arithmetic), and
        # ema_state_dict the trained ones (exactly the loaded ones at lr 0)
        for key, prefix in (('state_dict', 'unet.model.'),
                            ('ema_state_dict', 'module.unet.model.')):
            weights = {k[len(prefix):]: v for k, v in saved[key].items() if k.startswith(prefix)}
            assert weights.keys() == source[1].keys(), key
            assert all(torch.allclose(weights[k], source[1][k], atol=1e-7, rtol=0)
                       for k in weights), key
        trained = {k[len('module.unet.model.'):]: v for k, v in saved['ema_state_dict'].items()
                   if k.startswith('module.unet.model.')}
        assert same(trained, source[1])

    # resumed from iteration 2 in another work dir, it ends where the whole run ends
    whole = run(config, tmp_path / 'whole', handco_root, 4)
    resumed = train_tool.main([config, '--work-dir', str(tmp_path / 'resumed'), '--resume',
                               str(tmp_path / 'whole' / 'iter_2.pth'), '--cfg-options',
                               'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
                               'train_dataloader.batch_size=2',
                               'default_hooks.checkpoint.interval=2',
                               'randomness.seed=3', 'randomness.deterministic=True',
                               *small_eval(handco_root)])
    assert whole.iter == resumed.iter == 4
    ends = [torch.load(d / 'iter_4.pth', map_location='cpu')
            for d in (tmp_path / 'whole', tmp_path / 'resumed')]
    for key in ('state_dict', 'ema_state_dict'):
        assert same(ends[0][key], ends[1][key]), key
    assert not same({k: v for k, v in ends[0]['state_dict'].items() if k.startswith('unet.')},
                    {k: v for k, v in saved['state_dict'].items() if k.startswith('unet.')})

    # the exported pipeline samples what tools/generate.py samples from the checkpoint
    from diffusers import DDIMPipeline

    from .test_export_diffusers import pipeline_images
    ckpt = str(tmp_path / 'whole' / 'iter_4.pth')
    export.main([config, ckpt, str(tmp_path / 'pipe')])
    ours = generate.main([config, ckpt, '--out', str(tmp_path / 'g'), '--num', '2',
                          '--steps', '3', '--sampler', 'ddim'])
    theirs = pipeline_images(DDIMPipeline.from_pretrained(str(tmp_path / 'pipe')), 2, 3)
    assert (ours.int() - theirs.int()).abs().max() <= 1
    assert (ours.float().std(dim=(1, 2, 3)) > 1).all()

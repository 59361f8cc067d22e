# The temporal-regularised diffusion model: MMagic's DenoisingUnet under `unet`, diffusers'
# DDPMScheduler (a linear 1000-step schedule) as the one owner of the noise schedule and of
# what the network predicts, and TemporalRegLoss (docs/method.md). A recipe sets the
# denoiser's size from its data's resolution (model.unet.image_size=_base_.resolution). Any
# MMagic denoiser can replace `unet` (see configs/synthetic_hands_unet2d_temporal_cpu.py).
model = dict(
    type='TemporalDiffusionModel',
    data_preprocessor=dict(type='FramePairDataPreprocessor'),
    unet=dict(
        type='DenoisingUnet',
        in_channels=3,
        base_channels=32,
        resblocks_per_downsample=1,
        channels_cfg=[1, 2, 2],
        attention_res=[8],
        num_heads=4,
        dropout=0.0,
        norm_cfg=dict(type='GN', num_groups=16),
        output_cfg=dict(var='fixed')),  # no learned variance
    diffusion_scheduler=dict(
        type='DDPMScheduler',
        num_train_timesteps=1000,
        beta_schedule='linear',
        # what the network predicts: 'epsilon', 'sample' (x0) or 'v_prediction'
        prediction_type='epsilon'),
    # TemporalRegLoss's defaults are the recipe: lambda 0.3, w(t) = 1, output space, one t
    # per pair and one noise draw per frame; the options and how they were chosen are in
    # docs/method.md and docs/results.md ("How the defaults were chosen")
    loss=dict(type='TemporalRegLoss'),
    # DDPM's ancestral steps: DDIM (deterministic) keeps the noise the network does not
    # recognise as grain in many samples of these short trainings, and FID counts it
    # (docs/evaluation.md, "Which sampler"); 'ddim' stays available
    sampler='ddpm',
    num_sample_steps=50)

# HanCo, temporal recipe, fine-tuning Stable Diffusion 1.5's UNet with LoRA on unconditional
# video frames, 8 GPUs, HanCo's frames at 256 px as the latent recipe (4 x 32 x 32 latents;
# HanCo records 224 px, so SD's native 512 would only upsample them):
#     tools/dist_train.sh configs/handco_sd15_lora_temporal.py 8 --amp
# Everything comes from a local copy of the pipeline (nothing is downloaded at run time); get
# it once on a machine with network access (docs/training.md, "Fine-tuning"):
#     huggingface-cli download stable-diffusion-v1-5/stable-diffusion-v1-5 --local-dir \
#         data/pretrained/stable-diffusion-v1-5 --include 'unet/*' 'vae/*' 'scheduler/*' \
#         'text_encoder/*' 'tokenizer/*' model_index.json
# and write the empty prompt's embedding (1 x 77 x 768) next to it, once, with its text
# encoder (the snippet in docs/training.md): training needs no text encoder.
# The UNet's architecture comes from its folder's config (from_config), its weights through
# model.pretrained (checked key by key); the schedule is SD's (scaled linear betas, epsilon).
_base_ = ['./handco_temporal_latent.py']

sd = 'data/pretrained/stable-diffusion-v1-5'
train_dataloader = dict(batch_size=8)  # 8 pairs per GPU
val_dataloader = dict(batch_size=8)
test_dataloader = val_dataloader

model = dict(
    unet=dict(_delete_=True, type='UNet2DConditionModel', from_config=f'{sd}/unet'),
    diffusion_scheduler=dict(_delete_=True, type='DDPMScheduler', num_train_timesteps=1000,
                             beta_schedule='scaled_linear', beta_start=0.00085,
                             beta_end=0.012, prediction_type='epsilon', clip_sample=False),
    image_size=_base_.resolution // 8,
    autoencoder=dict(from_pretrained=f'{sd}/vae'),
    latent_cache_dir='work_dirs/latent_cache/handco_256_sd15',
    pretrained=dict(path=sd),  # the pipeline folder: its unet/ weights, its scheduler checked
    conditioning=dict(file=f'{sd}/empty_prompt_embedding.pt'),
    lora=dict(rank=16, alpha=16),  # attention projections and ResNet convolutions
    gradient_checkpointing=True,
    attention='sdpa')
optim_wrapper = dict(optimizer=dict(lr=1e-4))

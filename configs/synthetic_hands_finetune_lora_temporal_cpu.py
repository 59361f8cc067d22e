# Fine-tuning with LoRA: the pretrained UNet2DModel stays frozen and rank-8 adapters (peft) on
# its attention projections and ResNet convolutions train (model.lora.target_modules names
# others). Checkpoints hold the adapters and the fingerprint of the weights they adapt, so
# model.pretrained must give the same weights wherever the config is built (training, resume,
# tools/test.py, generation). tools/export_diffusers.py merges the adapters into a pipeline
# that loads without peft.
_base_ = ['./synthetic_hands_finetune_temporal_cpu.py']

model = dict(lora=dict(rank=8, alpha=8, dropout=0.0))
# LoRA's adapters start at zero (B = 0): the usual LoRA rate, higher than full fine-tuning's
optim_wrapper = dict(optimizer=dict(lr=1e-3))

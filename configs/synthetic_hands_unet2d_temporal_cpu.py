# Another backbone by inheritance alone: diffusers' UNet2DModel, registered in MMagic's MODELS
# through its diffusers wrapper, replaces DenoisingUnet under `model.unet`. Any denoiser of
# MMagic's MODELS that maps (x_t, t) to a prediction of the input's shape plugs in the same way.
_base_ = ['./synthetic_hands_temporal_cpu.py']

model = dict(
    unet=dict(
        _delete_=True,
        type='UNet2DModel',
        sample_size=_base_.resolution,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=('DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D'),
        up_block_types=('UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'),
        norm_num_groups=16))

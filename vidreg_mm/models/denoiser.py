"""What the model asks of any denoiser: its prediction, and no second owner of the objective."""
import torch
from torch import Tensor


def network_output(out) -> Tensor:
    """The prediction of a denoiser: a tensor, MMagic's ``{'sample': ...}`` dict, or a
    diffusers output with ``.sample``."""
    if torch.is_tensor(out):
        return out
    if isinstance(out, dict):
        if 'sample' not in out:
            raise KeyError(f"the denoiser returned a dict without 'sample' (keys: "
                           f'{sorted(out)})')
        return out['sample']
    if hasattr(out, 'sample'):
        return out.sample
    raise TypeError(f'cannot read a prediction from a {type(out).__name__}')


def refuse_inert_denoiser_keys(unet: dict) -> None:
    """MMagic's DenoisingUnet stores ``num_timesteps`` and ``output_cfg.mean`` but its forward
    reads neither: the schedule and what the network predicts belong to
    ``model.diffusion_scheduler`` alone, so a config that sets them is refused. Likewise
    ``from_pretrained`` of MMagic's diffusers wrapper, which loads what fits and initialises
    the rest at random: the denoiser's starting weights belong to ``model.pretrained``,
    which checks them key by key."""
    if unet.get('from_pretrained') is not None:
        raise ValueError(
            "model.unet.from_pretrained loads a folder's weights without checking them: take "
            'the architecture with model.unet.from_config=FOLDER and the weights with '
            'model.pretrained=dict(path=FOLDER), which refuses weights that do not fit')
    if unet.get('type') != 'DenoisingUnet':
        return
    for key, set_here, owner in (
            ('num_timesteps', 'num_timesteps' in unet, 'num_train_timesteps'),
            ('output_cfg.mean', 'mean' in (unet.get('output_cfg') or {}), 'prediction_type')):
        if set_here:
            raise ValueError(f'model.unet.{key} is not read by DenoisingUnet (its forward '
                             f'ignores it): model.diffusion_scheduler.{owner} is what the '
                             f'model uses; remove model.unet.{key}')

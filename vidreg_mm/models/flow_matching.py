"""Flow matching (rectified flow) as a scheduler: noising, velocity target and ODE samplers.

diffusers 0.24 (the version MMagic 1.2 runs with) has no flow-matching scheduler, so this is
one in diffusers' form (``ConfigMixin``: a ``config`` with ``num_train_timesteps`` and
``prediction_type``, ``add_noise``, ``get_velocity``, ``set_timesteps``), registered in
MMagic's ``DIFFUSION_SCHEDULERS`` so that a config selects it under
``model.diffusion_scheduler`` exactly as it selects ``DDPMScheduler``.

Conventions (docs/method.md, "Flow matching"):

- time ``t`` in [0, 1], ``t = 0`` the data and ``t = 1`` pure noise:
  ``x_t = (1 - t) x0 + t eps``;
- the network predicts the velocity ``v = eps - x0`` (``prediction_type='flow'``); the clean
  frame it implies is ``x0_hat = x_t - t v_hat``;
- the network's timestep input is ``t * num_train_timesteps`` (a float): a denoiser built
  for DDPM's integer steps 0..999 sees the same range, so any MMagic or diffusers denoiser
  that takes a timestep works unchanged;
- sampling integrates ``dx/dt = v`` from ``t = 1`` to ``t = 0`` on a uniform grid of
  ``num_steps`` steps, with Euler or Heun (Heun corrects every step except the last, whose
  end point ``t = 0`` would be evaluated for nothing; 2 * num_steps - 1 network calls). No
  noise is added, so a sample is a fixed function of its initial noise.
"""
from typing import Callable, Optional

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from mmagic.registry import DIFFUSION_SCHEDULERS
from torch import Tensor

FLOW_SOLVERS = ('euler', 'heun')


def _per_sample(t: Tensor, like: Tensor) -> Tensor:
    """Times of shape (N, ) broadcast over the other axes of ``like`` (N x ...)."""
    t = torch.as_tensor(t, device=like.device, dtype=like.dtype)
    if t.dim() == 0:
        return t
    return t.reshape(-1, *([1] * (like.dim() - 1)))


@DIFFUSION_SCHEDULERS.register_module()
class FlowMatchingScheduler(SchedulerMixin, ConfigMixin):
    """Rectified-flow noising and sampling (see the module docstring for the conventions).

    Args:
        num_train_timesteps (int): scale of the network's timestep input (``t *
            num_train_timesteps``); 1000 matches denoisers built for DDPM. Default: 1000.
        prediction_type (str): what the network predicts; only 'flow' (the velocity
            ``eps - x0``). Kept as a config entry so that the model and the loss read the
            objective from the scheduler, as they do for diffusers' schedulers.
    """

    config_name = 'scheduler_config.json'
    order = 1

    @register_to_config
    def __init__(self, num_train_timesteps: int = 1000, prediction_type: str = 'flow'):
        if prediction_type != 'flow':
            raise ValueError(f"FlowMatchingScheduler predicts the velocity: prediction_type "
                             f"must be 'flow', got {prediction_type!r}")
        if isinstance(num_train_timesteps, bool) or not isinstance(
                num_train_timesteps, int) or num_train_timesteps < 1:
            raise ValueError(f'num_train_timesteps must be an integer >= 1, got '
                             f'{num_train_timesteps!r}')
        self.sigmas: Optional[Tensor] = None
        self.timesteps: Optional[Tensor] = None

    # -- training ---------------------------------------------------------------------------
    def network_timestep(self, t: Tensor) -> Tensor:
        """The denoiser's timestep input for times ``t`` in [0, 1]."""
        return t * self.config.num_train_timesteps

    def add_noise(self, original_samples: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """``x_t = (1 - t) x0 + t eps``; ``timesteps`` are the times t in [0, 1], one per
        sample."""
        t = _per_sample(timesteps, original_samples)
        return (1 - t) * original_samples + t * noise

    def get_velocity(self, sample: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """The velocity target ``eps - x0`` (the same at every t); ``sample`` is x0."""
        return noise - sample

    # -- sampling ---------------------------------------------------------------------------
    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        """A uniform grid from t = 1 to t = 0: ``sigmas`` (num_steps + 1 times) and
        ``timesteps`` (the network inputs at the num_steps start points)."""
        if isinstance(num_inference_steps, bool) or not isinstance(
                num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f'the number of sampling steps must be an integer >= 1, got '
                             f'{num_inference_steps!r}')
        self.sigmas = torch.linspace(1.0, 0.0, num_inference_steps + 1, device=device)
        self.timesteps = self.network_timestep(self.sigmas[:-1])

    @torch.no_grad()
    def sample(self, velocity_fn: Callable[[Tensor, Tensor], Tensor], noise: Tensor,
               num_steps: int, solver: str = 'euler') -> Tensor:
        """Integrate ``dx/dt = velocity_fn(x, network timestep)`` from ``noise`` at t = 1 to
        t = 0 with ``solver`` ('euler' or 'heun'); returns x at t = 0 (unclamped)."""
        if solver not in FLOW_SOLVERS:
            raise ValueError(f'the flow-matching sampler must be one of {FLOW_SOLVERS}, got '
                             f'{solver!r}')
        self.set_timesteps(num_steps, device=noise.device)
        x, n = noise, noise.shape[0]
        for k in range(num_steps):
            t, t_next = self.sigmas[k], self.sigmas[k + 1]
            v = velocity_fn(x, self.network_timestep(t).expand(n)).to(x.dtype)
            x_euler = x + (t_next - t) * v
            if solver == 'heun' and k < num_steps - 1:
                v_next = velocity_fn(x_euler, self.network_timestep(t_next).expand(n))
                x = x + (t_next - t) * 0.5 * (v + v_next.to(x.dtype))
            else:
                x = x_euler
        return x

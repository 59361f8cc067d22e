"""What the network predicts under a noise schedule: one object per parameterisation.

An objective is built once by the model from its training scheduler (the one owner of the
schedule and of ``prediction_type``) and answers everything the loss and the samplers ask of
a parameterisation, on clips (``B x T x ...``) or frames (``N x ...``):

- ``uniform_timesteps`` / ``timesteps_at``: its timesteps ``t`` (DDPM: integers 0..N-1;
  flow matching: times in [0, 1]);
- ``add_noise``: ``x_t``; ``target``: ``y``; ``predicted_x0``: the clean frame a
  prediction implies; ``snr``: SNR(t); ``network_timestep``: what the denoiser is called
  with; ``min_snr_weight``: min-SNR-gamma weighting of the plain term (None where the
  parameterisation defines none);
- ``samplers`` and ``sample``: the reverse process.

The subclasses are registered by their ``prediction_type`` (the scheduler's config entry):
a new parameterisation is one new subclass that sets it. The formulas are docs/method.md's.
"""
from typing import Callable, Dict, List, Optional

import torch
from mmagic.registry import DIFFUSION_SCHEDULERS
from torch import Tensor

from .flow_matching import FLOW_SOLVERS, FlowMatchingScheduler

#: flow matching's SNR ((1 - t) / t)^2 is taken at t >= this (it is infinite at t = 0)
FLOW_MIN_T = 1e-3
#: samplers of a DDPM-type objective: diffusers schedulers built from the training schedule
DDPM_SAMPLERS = {'ddpm': 'DDPMScheduler', 'ddim': 'DDIMScheduler'}
#: every sampler name, for checks that do not know the model yet
SAMPLERS = tuple(DDPM_SAMPLERS) + FLOW_SOLVERS

_OBJECTIVES: Dict[str, type] = {}


def build_scheduler(cfg: dict):
    """A diffusers scheduler from MMagic's ``DIFFUSION_SCHEDULERS``, without MMagic's
    wrapper (which forwards every attribute, and so cannot be deep-copied, as EMA does)."""
    built = DIFFUSION_SCHEDULERS.build(cfg)
    return vars(built).get('scheduler', built)


def bc(v: Tensor) -> Tensor:
    """(B, T) -> (B, T, 1, 1, 1) for broadcasting over frames."""
    return v[..., None, None, None]


def flat(fn: Callable, *args: Tensor) -> Tensor:
    """Apply a diffusers scheduler function, which takes one batch axis, to B x T clips."""
    lead = args[0].shape[:2]
    return fn(*(a.flatten(0, 1) for a in args)).view(*lead, *args[0].shape[2:])

#: scheduler keys that define the noising a network learns to undo (the rest of a scheduler's
#: config, e.g. clip_sample or timestep_spacing, only changes sampling)
SCHEDULE_KEYS = ('num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule',
                 'trained_betas', 'rescale_betas_zero_snr')


class Objective:
    """A parameterisation of one scheduler (see the module docstring).

    Subclasses set ``prediction_type`` (which registers them) and ``samplers``, and
    implement the methods that raise here. ``accepts`` says which schedulers they take.
    """

    prediction_type: Optional[str] = None
    samplers: tuple = ()
    #: ``min_snr_weight(snr, gamma)``: s(t) of the plain term; None: not defined here
    min_snr_weight: Optional[Callable] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get('prediction_type'):
            _OBJECTIVES[cls.prediction_type] = cls

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.num_train_timesteps = int(scheduler.config.num_train_timesteps)

    @classmethod
    def accepts(cls, scheduler) -> bool:
        raise NotImplementedError

    def signature(self) -> dict:
        """What a network trained with this objective learned: the parameterisation and the
        noise schedule (the scheduler's keys that define the noising, not its sampling
        options), as plain data for a checkpoint's record."""
        config = dict(self.scheduler.config)
        schedule = {k: (list(config[k]) if isinstance(config[k], tuple) else config[k])
                    for k in SCHEDULE_KEYS if k in config}
        return dict(objective=type(self).__name__, prediction_type=self.prediction_type,
                    schedule=schedule)

    def uniform_timesteps(self, shape, generator: Optional[torch.Generator], device,
                          dtype: torch.dtype) -> Tensor:
        raise NotImplementedError

    def timesteps_at(self, u: Tensor, dtype: torch.dtype) -> Tensor:
        """Timesteps at fractions ``u`` in [0, 1) of the schedule."""
        raise NotImplementedError

    def add_noise(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        return flat(self.scheduler.add_noise, x0, eps, t)

    def target(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def predicted_x0(self, pred: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def snr(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        raise NotImplementedError

    def network_timestep(self, t: Tensor) -> Tensor:
        return t

    def sample(self, denoise: Callable[[Tensor, Tensor], Tensor], noise: Tensor,
               num_steps: int, sampler: str,
               generator: Optional[List[torch.Generator]] = None) -> Tensor:
        raise NotImplementedError


def build_objective(scheduler) -> Objective:
    """The objective of a training scheduler, by its ``config.prediction_type``; a scheduler
    that no objective takes is an error naming the config key."""
    config = getattr(scheduler, 'config', None)
    kind = config.get('prediction_type') if config is not None else None
    cls = _OBJECTIVES.get(kind)
    if cls is None or not cls.accepts(scheduler):
        ddpm = tuple(k for k, c in _OBJECTIVES.items() if issubclass(c, DDPMObjective))
        raise ValueError(
            f'model.diffusion_scheduler must be a diffusers DDPM-type scheduler with '
            f'prediction_type in {ddpm}, or FlowMatchingScheduler; got '
            f'{type(scheduler).__name__} with prediction_type={kind!r}')
    return cls(scheduler)


# -- DDPM: x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, integer t ------------------------------------
class DDPMObjective(Objective):
    """A diffusers DDPM-type scheduler (``add_noise``, ``alphas_cumprod``): a_t is its
    alpha-bar, SNR(t) = a_t / (1 - a_t); sampled by diffusers' DDPM or DDIM scheduler built
    from the training scheduler's config."""

    samplers = tuple(DDPM_SAMPLERS)

    def __init__(self, scheduler):
        super().__init__(scheduler)
        self._alphas_cumprod = {}  # per device: no copy to the device in the step

    @classmethod
    def accepts(cls, scheduler) -> bool:
        return not isinstance(scheduler, FlowMatchingScheduler) and all(
            hasattr(scheduler, k) for k in ('add_noise', 'alphas_cumprod'))

    def alpha_bar(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        table = self._alphas_cumprod.get(t.device)
        if table is None:
            table = self._alphas_cumprod[t.device] = self.scheduler.alphas_cumprod.to(t.device)
        return table[t].to(dtype)

    def uniform_timesteps(self, shape, generator, device, dtype) -> Tensor:
        return torch.randint(0, self.num_train_timesteps, shape, generator=generator,
                             device=device)

    def timesteps_at(self, u: Tensor, dtype) -> Tensor:
        n = self.num_train_timesteps
        return (u * n).long().clamp(max=n - 1)

    def snr(self, t: Tensor, dtype) -> Tensor:
        a = self.alpha_bar(t, dtype)
        return a / (1 - a)

    def sampler_scheduler(self, sampler: str):
        """The diffusers scheduler of ``sampler`` (through MMagic's registry), from the
        training scheduler's config: the same betas, prediction type and clipping."""
        return build_scheduler(dict(type=DDPM_SAMPLERS[sampler],
                                    from_config=self.scheduler.config))

    def sample(self, denoise, noise, num_steps, sampler, generator=None) -> Tensor:
        scheduler = self.sampler_scheduler(sampler)
        scheduler.set_timesteps(num_steps)
        x = noise
        for t in scheduler.timesteps:
            t_batch = torch.full((x.shape[0], ), int(t), device=x.device, dtype=torch.long)
            pred = denoise(x, t_batch).float()
            x = scheduler.step(pred, t, x, generator=generator).prev_sample
        return x


class EpsilonObjective(DDPMObjective):
    """y = eps; x0_hat = (x_t - sqrt(1 - a_t) f) / sqrt(a_t); s(t) = min(SNR, gamma) / SNR."""

    prediction_type = 'epsilon'

    def target(self, x0, eps, t):
        return eps

    def predicted_x0(self, pred, x_t, t):
        a = bc(self.alpha_bar(t, x_t.dtype))
        return (x_t - (1 - a).sqrt() * pred) / a.sqrt()

    def min_snr_weight(self, snr, gamma):
        return snr.clamp(max=gamma) / snr


class SampleObjective(DDPMObjective):
    """y = x0; x0_hat = f; s(t) = min(SNR, gamma)."""

    prediction_type = 'sample'

    def target(self, x0, eps, t):
        return x0

    def predicted_x0(self, pred, x_t, t):
        return pred

    def min_snr_weight(self, snr, gamma):
        return snr.clamp(max=gamma)


class VelocityObjective(DDPMObjective):
    """y = v = sqrt(a_t) eps - sqrt(1 - a_t) x0 (the scheduler's ``get_velocity``);
    x0_hat = sqrt(a_t) x_t - sqrt(1 - a_t) f; s(t) = min(SNR, gamma) / (SNR + 1)."""

    prediction_type = 'v_prediction'

    def target(self, x0, eps, t):
        return flat(self.scheduler.get_velocity, x0, eps, t)

    def predicted_x0(self, pred, x_t, t):
        a = bc(self.alpha_bar(t, x_t.dtype))
        return a.sqrt() * x_t - (1 - a).sqrt() * pred

    def min_snr_weight(self, snr, gamma):
        return snr.clamp(max=gamma) / (snr + 1)


# -- flow matching: x_t = (1 - t) x0 + t eps, t in [0, 1] ---------------------------------------
class FlowVelocityObjective(Objective):
    """:class:`FlowMatchingScheduler`: y = v = eps - x0, x0_hat = x_t - t f, SNR(t) =
    ((1 - t) / t)^2 (t >= 1e-3), the network called with ``t * num_train_timesteps``,
    sampled by its Euler or Heun ODE solver. min-SNR weighting is a DDPM weighting (defined
    through eps/x0/v): none here."""

    prediction_type = 'flow'
    samplers = FLOW_SOLVERS

    @classmethod
    def accepts(cls, scheduler) -> bool:
        return isinstance(scheduler, FlowMatchingScheduler)

    def uniform_timesteps(self, shape, generator, device, dtype) -> Tensor:
        return torch.rand(shape, generator=generator, device=device).to(dtype)

    def timesteps_at(self, u: Tensor, dtype) -> Tensor:
        return u.to(dtype)

    def target(self, x0, eps, t):
        return self.scheduler.get_velocity(x0, eps, t)

    def predicted_x0(self, pred, x_t, t):
        return x_t - bc(t.to(x_t.dtype)) * pred

    def snr(self, t: Tensor, dtype) -> Tensor:
        t = t.to(dtype).clamp(min=FLOW_MIN_T)
        return ((1 - t) / t).pow(2)

    def network_timestep(self, t: Tensor) -> Tensor:
        return self.scheduler.network_timestep(t)

    def sample(self, denoise, noise, num_steps, sampler, generator=None) -> Tensor:
        return self.scheduler.sample(lambda x, t: denoise(x, t).float(), noise, num_steps,
                                     sampler)

"""An unconditional image diffusion model that trains on video clips in MMEngine's Runner."""
from typing import Callable, List, Optional, Sequence

import torch
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine.dist import get_dist_info
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from torch import Tensor

from ..registry import mmagic_scope
from . import finetune
from .denoiser import network_output, refuse_inert_denoiser_keys
from .latent import LatentSpace
from .objectives import build_objective, build_scheduler


@MODELS.register_module()
class TemporalDiffusionModel(BaseModel):
    """Diffusion model whose training step is the temporal-regularised loss on video clips.

    The network is any denoiser of MMagic's MODELS registry (``DenoisingUnet``, diffusers
    models such as ``UNet2DModel`` through MMagic's wrapper) under the key ``unet``.
    ``diffusion_scheduler`` is the one owner of the noise schedule and of what the network
    predicts: a diffusers scheduler (through MMagic's ``DIFFUSION_SCHEDULERS``), from which
    the model builds its objective once (:func:`~vidreg_mm.models.objectives.build_objective`,
    by ``prediction_type``): the noising, target, implied clean frame, SNR, network timestep
    and samplers that the loss and sampling ask for. DDPM-type schedulers sample with
    diffusers' DDPM and DDIM schedulers built from their config.

    Flow matching (rectified flow) is the same model with ``diffusion_scheduler=dict(
    type='FlowMatchingScheduler')``: its objective noises with ``x_t = (1 - t) x0 + t eps``
    and samples with its Euler and Heun ODE solvers (``sampler='euler'`` or ``'heun'``); see
    :mod:`.flow_matching`.

    ``train_step`` is MMEngine's: preprocess (B x T x C x H x W clips), ``forward(
    mode='loss')`` under the optim wrapper's context (AMP), update. ``forward(mode='loss')``
    makes one draw of timesteps and noise per clip and ONE network forward over the B * T
    frames, flattened only for the network (see :class:`TemporalRegLoss`). ``val_step`` /
    ``test_step`` generate one sample per input sample and return MMagic ``DataSample`` s with
    ``fake_img`` (float, 0..255, BGR as MMagic's metrics read it).

    Latent space: with ``autoencoder=dict(type='AutoencoderKL', ...)`` the model trains and
    samples in the latent space of that frozen autoencoder (:class:`LatentSpace`): each
    step encodes the B x T frames in one pass without gradients, the loss and the
    regulariser act on the latents, and samples are decoded
    to pixels before anything else sees them. The denoiser's size and channels are the
    latents'. See docs/latent.md.

    Args:
        unet (dict): the denoiser config.
        diffusion_scheduler (dict): the training schedule and ``prediction_type``
            ('epsilon', 'sample' or 'v_prediction'; or ``FlowMatchingScheduler``), e.g.
            ``dict(type='DDPMScheduler',
            num_train_timesteps=1000, beta_schedule='linear', prediction_type='epsilon')``.
        loss (dict): the loss config (``TemporalRegLoss``).
        data_preprocessor (dict): default ``FramePairDataPreprocessor``.
        sampler (str): 'ddpm' or 'ddim' for val/test ('euler' or 'heun' with flow
            matching). Default: 'ddpm': deterministic DDIM keeps the noise that a network
            trained for a few thousand steps does not recognise, as grain
            (docs/evaluation.md, "Which sampler").
        num_sample_steps (int): sampling steps for val/test. Default: 50.
        sample_seed (int): base seed of val/test samples (each sample seeded by its index).
        image_size (int, optional): sample size; read from the denoiser when not given
            (in latent space: the latents' size).
        autoencoder (dict, optional): a diffusers ``AutoencoderKL`` through MMagic's
            registry, ``from_pretrained`` a local folder or built from its config keys
            (see :func:`~vidreg_mm.models.latent.build_autoencoder`). None: pixel space.
        latent_cache_dir (str, optional): with ``autoencoder``, cache the posterior of each
            training frame there (:class:`~vidreg_mm.models.latent.LatentCache`).
        pretrained (dict, optional): the denoiser's starting weights: ``dict(path=...)``, a
            local diffusers folder, safetensors file or checkpoint, checked key by key.
        freeze (list, optional): patterns of the denoiser's parameters that do not train.
        lora (dict, optional): LoRA adapters (peft) on the pretrained denoiser:
            ``dict(rank=4, alpha=None, target_modules=None, dropout=0.0)``; only they train.
        gradient_checkpointing (bool): recompute the denoiser's activations in backward.
        attention (str, optional): ``'sdpa'`` or ``'math'`` for a diffusers denoiser.
        conditioning (dict, optional): the ``encoder_hidden_states`` of a conditional
            denoiser: ``dict(file=PATH)`` or ``dict(learned_tokens=N)``.
            These six keys: :mod:`vidreg_mm.models.finetune` and docs/training.md.
    """

    def __init__(self,
                 unet: dict,
                 diffusion_scheduler: dict = dict(type='DDPMScheduler',
                                                  num_train_timesteps=1000,
                                                  beta_schedule='linear',
                                                  prediction_type='epsilon'),
                 loss: dict = dict(type='TemporalRegLoss'),
                 data_preprocessor: Optional[dict] = dict(type='FramePairDataPreprocessor'),
                 sampler: str = 'ddpm',
                 num_sample_steps: int = 50,
                 sample_seed: int = 0,
                 image_size: Optional[int] = None,
                 autoencoder: Optional[dict] = None,
                 latent_cache_dir: Optional[str] = None,
                 pretrained: Optional[dict] = None,
                 freeze: Optional[list] = None,
                 lora: Optional[dict] = None,
                 gradient_checkpointing: bool = False,
                 attention: Optional[str] = None,
                 conditioning: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        with mmagic_scope():  # BaseModel builds the preprocessor from the default scope
            super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not (isinstance(num_sample_steps, int) and num_sample_steps >= 1):
            raise ValueError(f'model.num_sample_steps must be an integer >= 1, got '
                             f'{num_sample_steps!r}')
        self.scheduler = build_scheduler(diffusion_scheduler)
        self.objective = build_objective(self.scheduler)
        if sampler not in self.samplers:
            raise ValueError(f'model.sampler must be one of {self.samplers} for '
                             f'{type(self.scheduler).__name__}, got {sampler!r}')
        refuse_inert_denoiser_keys(unet)
        self.unet = MODELS.build(unet)
        self._prepare_denoiser(pretrained, freeze, lora, gradient_checkpointing, attention)
        self.conditioning = finetune.build_conditioning(self.unet, conditioning)
        self.loss = MODELS.build(loss)
        if hasattr(self.loss, 'check'):
            self.loss.check(self.objective)
        self.sampler, self.num_sample_steps, self.sample_seed = (sampler, num_sample_steps,
                                                                 int(sample_seed))
        self.image_size = image_size or self._denoiser_size()
        self._num_generated = 0  # samples generated for metrics that give no sample index
        self.in_channels = int(self._denoiser_setting('in_channels') or 3)
        if latent_cache_dir and autoencoder is None:
            raise ValueError('model.latent_cache_dir is set but model.autoencoder is not: '
                             'there are no latents to cache')
        self.latent = LatentSpace(autoencoder, latent_cache_dir) if autoencoder else None
        self.pixel_size = self.image_size
        if self.latent is not None:
            self._check_latent()
            self.pixel_size = self.image_size * self.latent.factor
        elif self.in_channels != 3:
            raise ValueError(f'the denoiser takes {self.in_channels} channels; in pixel space '
                             'it takes 3 (RGB). Latent denoisers need model.autoencoder')

    def _check_latent(self) -> None:
        scale = (getattr(self.data_preprocessor, 'mean', None),
                 getattr(self.data_preprocessor, 'std', None))
        if scale != (127.5, 127.5):
            raise ValueError(
                f'model.data_preprocessor has mean, std = {scale}; the autoencoder encodes '
                'frames in [-1, 1] as it was trained on (mean = std = 127.5)')
        if self.in_channels != self.latent.channels:
            raise ValueError(
                f'the autoencoder gives {self.latent.channels}-channel latents but the '
                f'denoiser takes {self.in_channels} channels: set model.unet.in_channels '
                f'(and its output channels) to {self.latent.channels}')
        if self._denoiser_setting('out_channels') not in (None, self.in_channels):
            raise ValueError(
                f'the denoiser outputs {self._denoiser_setting("out_channels")} channels for '
                f'{self.in_channels}-channel latents: set model.unet.out_channels to '
                f'{self.in_channels}')
        if self.scheduler.config.get('clip_sample', False):
            raise ValueError(
                'model.diffusion_scheduler.clip_sample must be False in latent space: '
                'latents are not bounded to [-1, 1], and clipping the predicted x0 there '
                'distorts every sample')

    # -- the network --------------------------------------------------------------------------
    def _prepare_denoiser(self, pretrained, freeze, lora, gradient_checkpointing,
                          attention) -> None:
        """Starting weights, what trains, memory savers (:mod:`.finetune`)."""
        self.pretrained_from = None
        if pretrained is not None:
            self.pretrained_from = finetune.load_pretrained(self.unet, pretrained,
                                                            self.objective.signature())
        if freeze:
            if lora is not None:
                raise ValueError('model.freeze and model.lora are both set: LoRA trains its '
                                 'adapters only, the denoiser is frozen already')
            finetune.freeze(self.unet, freeze)
        if lora is not None:
            if pretrained is None:
                raise ValueError('model.lora adapts pretrained weights: set '
                                 'model.pretrained=dict(path=...)')
            from .latent import weights_fingerprint
            self.lora_base = finetune.BaseFingerprint(
                weights_fingerprint(finetune.network_of(self.unet)), self.pretrained_from)
            finetune.add_lora(self.unet, lora)
        if gradient_checkpointing:
            finetune.enable_gradient_checkpointing(self.unet)
        if attention is not None:
            finetune.set_attention(self.unet, attention)

    def _denoiser_setting(self, *names):
        """The first of ``names`` that the denoiser's config (diffusers models) or, without
        one, its attributes (MMagic's) give."""
        config = getattr(self.unet, 'config', None)
        for name in names:
            value = config.get(name) if config is not None else getattr(self.unet, name, None)
            if value is not None:
                return value
        return None

    def _denoiser_size(self) -> int:
        size = self._denoiser_setting('image_size', 'sample_size')
        if size is None:
            raise ValueError('cannot read the sample size from the denoiser; set '
                             'model.image_size')
        return int(size[0] if isinstance(size, (list, tuple)) else size)

    def denoise(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The network's prediction for noisy frames ``x_t`` (``... x C x H x W``) at
        timesteps ``t`` (``...``): the leading axes are flattened for one network forward."""
        frames = x_t.reshape(-1, *x_t.shape[-3:])
        if self.conditioning is not None:
            pred = network_output(self.unet(frames, t.reshape(-1),
                                            encoder_hidden_states=self.conditioning(
                                                len(frames)).to(frames.dtype)))
        else:
            pred = network_output(self.unet(frames, t.reshape(-1)))
        if pred.shape != frames.shape:
            raise ValueError(f'the denoiser returned {tuple(pred.shape)} for input '
                             f'{tuple(frames.shape)}; it must predict one value per input '
                             'value (learned variances are not supported: for DenoisingUnet '
                             "set output_cfg=dict(mean=..., var='fixed'))")
        return pred.view(x_t.shape)

    def trained_as(self) -> dict:
        """What the network learns to denoise (recorded in checkpoints; a checkpoint of
        another is refused): the objective's signature and the latent space (None: pixels)."""
        latent = self.latent and dict(channels=self.latent.channels, factor=self.latent.factor,
                                      scaling_factor=self.latent.scaling_factor)
        return dict(self.objective.signature(), latent=latent)

    @property
    def samplers(self) -> tuple:
        """The sampler names this model's objective has."""
        return self.objective.samplers

    # -- training -----------------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: Optional[list] = None, mode: str = 'loss'):
        """``inputs``: B x T x C x H x W clips in [-1, 1] (or MMagic's generative-metric
        request ``dict(num_batches=N)`` in 'predict' mode)."""
        if mode == 'loss':
            if tuple(inputs.shape[-2:]) != (self.pixel_size, self.pixel_size):
                latent = (f' (latents of {self.image_size} x {self.image_size}, the '
                          f'autoencoder downsamples {self.latent.factor}x)' if self.latent
                          else '')
                raise ValueError(
                    f'the data gives {tuple(inputs.shape[-2:])} frames but the model samples '
                    f'{self.pixel_size} x {self.pixel_size} images{latent}: make the data '
                    "pipeline's size and model.unet.image_size (or model.image_size) agree")
            if self.latent is not None:
                inputs = self.latent.encode(inputs)
            iteration = MessageHub.get_current_instance().get_info('iter', 0)
            return self.loss(self.denoise, inputs, self.objective, iteration)
        if mode == 'predict':
            if isinstance(inputs, dict):  # MMagic's generative metrics ask for N samples
                return self.predict(data_samples, num_samples=int(inputs['num_batches']))
            return self.predict(data_samples, num_samples=inputs.shape[0])
        raise ValueError(f"mode must be 'loss' or 'predict', got {mode!r}")

    # -- sampling -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, noise: Tensor, num_steps: int, sampler: Optional[str] = None,
               generator: Optional[List[torch.Generator]] = None) -> Tensor:
        """Run the reverse process from ``noise`` (N x C x H x W; latents in latent space)
        with the objective's sampler; returns frames in [-1, 1] (decoded in latent space).

        ``generator``: one per sample for the stochastic steps (DDPM), so that a sample does
        not depend on the batch it is drawn in. Flow matching's ODE solvers add no noise.
        ``sampler`` None: the model's ``sampler``.
        """
        sampler = sampler or self.sampler
        if sampler not in self.samplers:
            raise ValueError(f'sampler must be one of {self.samplers} for '
                             f'{type(self.scheduler).__name__}, got {sampler!r}')
        x = self.objective.sample(self.denoise, noise, num_steps, sampler, generator)
        if self.latent is not None:
            x = self.latent.decode(x).float()
        return x.clamp(-1, 1)

    def _sample_seeded(self, seeds: Sequence[int], num_steps: int, sampler: str) -> Tensor:
        """One sample per seed, in 0..255: each sample's initial noise and step noise come
        from its own generator."""
        shape = (self.in_channels, self.image_size, self.image_size)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        noise = torch.stack([torch.randn(shape, generator=g) for g in gens])
        x = self.sample(noise.to(self.data_preprocessor.device), num_steps, sampler, gens)
        return self.data_preprocessor.destruct(x)

    def infer(self, num_samples: int = 16, num_steps: int = 50, sampler: Optional[str] = None,
              seed: int = 0, batch_size: int = 64,
              progress: Optional[Callable[[int], None]] = None) -> Tensor:
        """Generate ``num_samples`` images; returns uint8 RGB, N x C x H x W, deterministic
        for ``seed`` whatever ``batch_size``. ``sampler`` None: the model's ``sampler``.
        ``progress``: called with the number of samples of each batch when it is done."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, num_samples, batch_size):
            seeds = [seed * 1_000_003 + i for i in range(start, min(num_samples,
                                                                   start + batch_size))]
            imgs = self._sample_seeded(seeds, num_steps, sampler)
            out.append(imgs.round().to(torch.uint8).cpu())
            if progress is not None:
                progress(len(seeds))
        self.train(was_training)
        return torch.cat(out)

    def restart_sample_seeds(self) -> None:
        """The next generative-metric samples start again from index 0."""
        self._num_generated = 0

    def predict(self, data_samples: Optional[list], num_samples: int) -> List[DataSample]:
        """``num_samples`` generated samples as MMagic ``DataSample`` s.

        With data samples (a val/test dataloader), sample ``k`` is seeded by its
        ``sample_idx``, so results do not depend on batching or ranks. Without (MMagic's
        generative-metric samplers), seeds continue a per-model counter, interleaved over
        ranks (rank r of W draws indices r, r + W, r + 2W, ...): distinct samples across the
        batches and ranks of one evaluation, and, when the number of samples is a multiple of
        W, the same set of samples as one process draws. ``restart_sample_seeds`` (called by
        RandomStateHook before each evaluation) makes every evaluation score the same seeds.
        ``fake_img`` is float 0..255 in BGR order, as MMagic's metrics read it.
        """
        if data_samples:
            metas = [s.metainfo for s in data_samples]
            indices = [int(m.get('sample_idx', i)) for i, m in enumerate(metas)]
        else:
            metas = [{} for _ in range(num_samples)]
            rank, world_size = get_dist_info()
            start = self._num_generated
            indices = [i * world_size + rank for i in range(start, start + num_samples)]
            self._num_generated += num_samples
        seeds = [self.sample_seed * 1_000_003 + i for i in indices]
        fake = self._sample_seeded(seeds, self.num_sample_steps, self.sampler)
        outputs = []
        for img, meta in zip(fake[:, [2, 1, 0]], metas):
            sample = DataSample(metainfo=meta)
            sample.set_metainfo(dict(fake_img_channel_order='bgr'))
            sample.fake_img = img
            outputs.append(sample)
        return outputs

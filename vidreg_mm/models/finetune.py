"""Fine-tuning: where the denoiser's weights start, which of them train, and what a
conditional denoiser is given on unconditional video frames (docs/training.md,
"Fine-tuning"). Each is a key of ``model`` (:class:`TemporalDiffusionModel`), owned here:

- ``pretrained=dict(path=..., ema=True, allow_missing=[], allow_unexpected=[],
  allow_mismatched=[], allow_other_training=False)``: the denoiser's weights from a local
  diffusers folder (a model folder such as ``unet/``, or a whole pipeline folder as
  ``tools/export_diffusers.py`` writes, whose ``unet/`` is read), a ``.safetensors`` file, or
  a vidreg/MMagic checkpoint (the weights under ``unet.``; ``ema``: its EMA copy or the
  trained weights). Weights that do not fit the denoiser key for key and shape for shape
  are refused with the keys listed, unless each is named by a pattern of the ``allow_*``
  lists (``fnmatch`` patterns; the denoiser keeps its own initialisation there). A
  checkpoint or pipeline trained with another objective or noise schedule is refused
  unless ``allow_other_training``. Nothing is downloaded.
- ``freeze=[patterns]``: parameters of the denoiser that do not train.
- ``lora=dict(rank=4, alpha=None, target_modules=None, dropout=0.0)``: LoRA adapters
  (``peft``) on the denoiser's attention projections and convolutions; only they train,
  and checkpoints hold them (and the fingerprint of the weights they adapt), not the
  pretrained weights, which ``pretrained`` gives again wherever the config is built.
- ``gradient_checkpointing``: recompute activations in the backward pass (diffusers
  denoisers).
- ``attention``: ``'sdpa'`` (PyTorch's scaled_dot_product_attention) or ``'math'`` (the
  explicit softmax(QK^T)V) for a diffusers denoiser's attention layers; None keeps the
  denoiser's choice.
- ``conditioning=dict(file=PATH)`` or ``dict(learned_tokens=N)``: the
  ``encoder_hidden_states`` of a denoiser that needs them (``UNet2DConditionModel``): a fixed
  embedding computed once (e.g. of the empty prompt: a tensor L x D saved with
  ``torch.save`` or safetensors), or N learned tokens (a null embedding trained with the
  network). No text encoder is needed.

Parameter names are the network's own (the diffusers model's or DenoisingUnet's, without the
wrapper's prefix): the keys of a diffusers folder, e.g. ``down_blocks.0.resnets.0.conv1.weight``.
"""
import fnmatch
import inspect
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

PRETRAINED_DEFAULTS = dict(path=None, ema=True, allow_missing=(), allow_unexpected=(),
                           allow_mismatched=(), allow_other_training=False)
LORA_DEFAULTS = dict(rank=4, alpha=None, target_modules=None, dropout=0.0)
#: LoRA's targets in a diffusers UNet: the attention projections and the ResNet convolutions
DIFFUSERS_LORA_TARGETS = ('to_q', 'to_k', 'to_v', 'to_out.0', 'conv1', 'conv2')
ATTENTION_IMPLEMENTATIONS = ('sdpa', 'math')
WEIGHT_FILES = ('diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin')
#: a key of a LoRA adapter's parameter (peft's names)
LORA_KEY = 'lora_'


class PretrainedError(ValueError):
    """Pretrained weights that cannot start this denoiser; the message names the file, the
    keys and the config key that would accept them."""


def network_of(unet: nn.Module) -> nn.Module:
    """The network inside MMagic's diffusers wrapper (the module itself otherwise)."""
    return getattr(unet, 'model', unet)


def _options(value, defaults: dict, key: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f'{key} must be a dict, got {value!r}')
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ValueError(f'{key}.{unknown[0]}: unknown key; {key} takes '
                         f'{", ".join(sorted(defaults))}')
    return {**defaults, **value}


def _patterns(value, key: str) -> List[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ValueError(f'{key} must be a list of parameter-name patterns, got {value!r}')
    return list(value)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _listing(keys: Sequence[str], limit: int = 20) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys)} in all)' if len(keys) > limit else '')


# -- reading pretrained weights ------------------------------------------------------------------
def _read_weight_file(path: str) -> Dict[str, Tensor]:
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    from ..engine import load_local_checkpoint
    return load_local_checkpoint(path, 'cpu')


def _folder_weights(folder: str, key: str):
    """(weights, what trained them) of a diffusers model folder, or of a pipeline folder's
    ``unet/`` (with its scheduler's prediction type and schedule)."""
    training = None
    if osp.isfile(osp.join(folder, 'model_index.json')):
        scheduler = osp.join(folder, 'scheduler', 'scheduler_config.json')
        if osp.isfile(scheduler):
            with open(scheduler) as f:
                training = json.load(f)
        unet = osp.join(folder, 'unet')
        if not osp.isdir(unet):
            raise PretrainedError(f'{key}={folder!r} is a pipeline folder without unet/: the '
                                  'denoiser is read from its unet/ folder')
        folder = unet
    if not osp.isfile(osp.join(folder, 'config.json')):
        raise PretrainedError(f'{key}={folder!r} holds no config.json: not a diffusers model '
                              'folder (save_pretrained writes one) nor a pipeline folder '
                              '(model_index.json and unet/)')
    for name in WEIGHT_FILES:
        if osp.isfile(osp.join(folder, name)):
            return _read_weight_file(osp.join(folder, name)), training, osp.join(folder, name)
    raise PretrainedError(f'{key}={folder!r} holds none of {", ".join(WEIGHT_FILES)}')


def _checkpoint_weights(path: str, ema: bool, key: str):
    """(weights of the denoiser, its record of training) of a vidreg/MMagic checkpoint: the
    state dict's keys under ``unet.``; a bare state dict of the network is taken as it is."""
    from ..engine import load_local_checkpoint, sampling_weights
    loaded = load_local_checkpoint(path, 'cpu')
    if not isinstance(loaded, dict):
        raise PretrainedError(f'{key}={path!r} holds a {type(loaded).__name__}, not weights')
    if not isinstance(loaded.get('state_dict'), dict):
        if all(torch.is_tensor(v) for v in loaded.values()):
            return loaded, None  # the network's own state dict
        raise PretrainedError(f'{key}={path!r} holds no state dict')
    weights, which = sampling_weights(path, ema=ema, checkpoint=loaded)
    unet = {k[len('unet.'):]: v for k, v in weights.items() if k.startswith('unet.')}
    if not unet:
        raise PretrainedError(f'{key}={path!r} holds no weights under unet. (its keys begin '
                              f'{_listing(sorted({k.split(".")[0] for k in weights}), 5)}): '
                              'not a checkpoint of a diffusion model with model.unet')
    print_log(f'pretrained denoiser: {which} of {path}', logger='current')
    return unet, (loaded.get('meta') or {}).get('trained_as')


def read_pretrained(path: str, ema: bool = True, key: str = 'model.pretrained.path'):
    """(weights with the network's own names, the record of how they were trained or None,
    the file they came from) from a diffusers folder, a safetensors file or a checkpoint."""
    if not isinstance(path, str) or not path:
        raise PretrainedError(f'{key} must be a local path, got {path!r}')
    if osp.isdir(path):
        weights, training, source = _folder_weights(path, key)
    elif osp.isfile(path):
        if path.endswith('.safetensors'):
            weights, training = _read_weight_file(path), None
        else:
            weights, training = _checkpoint_weights(path, ema, key)
        source = path
    else:
        raise PretrainedError(
            f'{key}={path!r} does not exist: give a local diffusers folder (a model or '
            'pipeline folder), a .safetensors file or a checkpoint (nothing is downloaded)')
    if any(LORA_KEY in k for k in weights):
        raise PretrainedError(
            f'{key}={path!r} holds LoRA adapters (keys with {LORA_KEY!r}), not a whole '
            'network: export that run (tools/export_diffusers.py merges its adapters) and '
            'start from the exported folder')
    return weights, training, source


def _unwrap(weights: Dict[str, Tensor], expected: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Checkpoint keys of MMagic's wrapper (``model.``) to the network's own."""
    if weights and all(k.startswith('model.') for k in weights) and not any(
            k.startswith('model.') for k in expected):
        return {k[len('model.'):]: v for k, v in weights.items()}
    return weights


def other_training(found: Optional[dict], expected: dict) -> List[str]:
    """How a source's record of training (a checkpoint's ``trained_as``, or a pipeline's
    scheduler config) differs from this model's (:meth:`TemporalDiffusionModel.trained_as`)."""
    if not found:
        return []
    differ = []
    if 'prediction_type' in found and found['prediction_type'] != expected['prediction_type']:
        differ.append(f'prediction_type: pretrained {found["prediction_type"]!r}, this config '
                      f'{expected["prediction_type"]!r}')
    if 'objective' in found and found['objective'] != expected['objective']:
        differ.append(f'objective: pretrained {found["objective"]!r}, this config '
                      f'{expected["objective"]!r}')
    schedule = found.get('schedule', found)
    for k, v in expected['schedule'].items():
        if k in schedule and (list(schedule[k]) if isinstance(schedule[k], tuple)
                              else schedule[k]) != v:
            differ.append(f'schedule {k}: pretrained {schedule[k]!r}, this config {v!r}')
    return differ


def load_pretrained(unet: nn.Module, cfg: dict, expected_training: dict) -> str:
    """Load ``model.pretrained`` (``cfg``) into the denoiser ``unet``, refusing what does not
    fit (see the module docstring); returns the file the weights came from."""
    opts = _options(cfg, PRETRAINED_DEFAULTS, 'model.pretrained')
    allowed = {kind: _patterns(opts[f'allow_{kind}'], f'model.pretrained.allow_{kind}')
               for kind in ('missing', 'unexpected', 'mismatched')}
    network = network_of(unet)
    expected = network.state_dict()
    weights, training, source = read_pretrained(opts['path'], bool(opts['ema']))
    weights = _unwrap(weights, expected)
    differ = other_training(training, expected_training)
    if differ and not opts['allow_other_training']:
        raise PretrainedError(
            f'model.pretrained.path={opts["path"]!r} was trained as another model:\n  '
            + '\n  '.join(differ) + '\nMatch model.diffusion_scheduler to it, or set '
            'model.pretrained.allow_other_training=True to fine-tune it to this objective')
    shape = (lambda v: tuple(v.shape))  # noqa: E731
    missing = sorted(k for k in expected if k not in weights)
    unexpected = sorted(k for k in weights if k not in expected)
    mismatched = sorted(k for k in expected if k in weights
                        and shape(weights[k]) != shape(expected[k]))
    found = dict(missing=missing, unexpected=unexpected, mismatched=mismatched)
    refused = {kind: [k for k in keys if not _matches(k, allowed[kind])]
               for kind, keys in found.items()}
    if any(refused.values()):
        detail = {'missing': 'in the denoiser, not in the weights',
                  'unexpected': 'in the weights, not in the denoiser',
                  'mismatched': 'shapes differ'}
        lines = []
        for kind, keys in refused.items():
            if keys:
                if kind == 'mismatched':
                    keys = [f'{k} (weights {shape(weights[k])}, denoiser {shape(expected[k])})'
                            for k in keys]
                lines.append(f'  {kind} ({detail[kind]}; {len(keys)}): {_listing(keys)}')
        raise PretrainedError(
            f'the weights of {source} do not fit model.unet ({type(network).__name__}):\n'
            + '\n'.join(lines) + '\nTo start without them, name them in '
            'model.pretrained.allow_missing / allow_unexpected / allow_mismatched '
            "(patterns such as 'conv_out.*'); those keep the denoiser's initialisation")
    loading = {k: v for k, v in weights.items() if k in expected and k not in mismatched}
    network.load_state_dict(loading, strict=False)
    skipped = {kind: keys for kind, keys in found.items() if keys}
    print_log(f'pretrained denoiser: {len(loading)} of {len(expected)} tensors from {source}'
              + (f'; not loaded, as allowed: {skipped}' if skipped else ''), logger='current')
    # MMEngine's Runner calls init_weights before training: it must not re-initialise these
    unet._is_init = True
    return source


# -- what trains ---------------------------------------------------------------------------------
def freeze(unet: nn.Module, patterns) -> int:
    """Stop the parameters of the denoiser named by ``patterns`` (``model.freeze``) from
    training; each pattern must name at least one. Returns how many tensors were frozen."""
    patterns = _patterns(patterns, 'model.freeze')
    names = [n for n, _ in network_of(unet).named_parameters()]
    for p in patterns:
        if not any(fnmatch.fnmatchcase(n, p) for n in names):
            raise ValueError(f'model.freeze: {p!r} names no parameter of the denoiser '
                             f'(its names are like {_listing(names, 3)})')
    frozen = 0
    for n, param in network_of(unet).named_parameters():
        if _matches(n, patterns):
            param.requires_grad_(False)
            frozen += 1
    return frozen


def add_lora(unet: nn.Module, cfg: dict) -> int:
    """Inject LoRA adapters (``model.lora``) into the denoiser with peft; only they train.
    Returns the number of adapter parameters."""
    opts = _options(cfg, LORA_DEFAULTS, 'model.lora')
    network = network_of(unet)
    targets = opts['target_modules']
    if targets is None:
        if not _is_diffusers(network):
            raise ValueError(f'model.lora.target_modules: no default for '
                             f'{type(network).__name__}; name the layers to adapt')
        targets = list(DIFFUSERS_LORA_TARGETS)
    rank = opts['rank']
    if not (isinstance(rank, int) and rank >= 1):
        raise ValueError(f'model.lora.rank must be an integer >= 1, got {rank!r}')
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as e:
        raise ImportError('model.lora needs peft (pip install peft; tools/bootstrap.sh '
                          'installs it)') from e
    config = LoraConfig(r=rank, lora_alpha=opts['alpha'] or rank, lora_dropout=opts['dropout'],
                        target_modules=list(targets) if not isinstance(targets, str)
                        else targets)
    try:
        inject_adapter_in_model(config, network)
    except ValueError as e:
        raise ValueError(f'model.lora.target_modules={targets!r}: {e}') from None
    count = 0
    for name, param in network.named_parameters():
        adapter = LORA_KEY in name
        param.requires_grad_(adapter)
        count += param.numel() if adapter else 0
    unet._register_state_dict_hook(_adapters_only)
    unet._register_load_state_dict_pre_hook(_keep_base_weights, with_module=True)
    unet._is_init = True  # the base weights are pretrained; the adapters peft's init
    return count


def _adapters_only(module, state_dict, prefix, local_metadata):
    """State-dict hook of a LoRA denoiser: checkpoints hold the adapters, not the frozen
    weights they adapt (``model.pretrained`` gives those, checked by fingerprint)."""
    for key in [k for k in state_dict if k.startswith(prefix) and LORA_KEY not in k]:
        del state_dict[key]


def _raw_state(module: nn.Module) -> Dict[str, Tensor]:
    """The module's parameters and persistent buffers by state-dict key, without running its
    state-dict hooks."""
    out = {}
    for name, m in module.named_modules():
        pre = name + '.' if name else ''
        out.update({pre + n: p for n, p in m._parameters.items() if p is not None})
        out.update({pre + n: b for n, b in m._buffers.items()
                    if b is not None and n not in m._non_persistent_buffers_set})
    return out


def _keep_base_weights(module, state_dict, prefix, local_metadata, strict, missing_keys,
                       unexpected_keys, error_msgs):
    """Load-state-dict pre-hook of a LoRA denoiser: the frozen weights a checkpoint does not
    hold stay the pretrained ones."""
    if not any(k.startswith(prefix) for k in state_dict):
        return  # nothing of the denoiser in this state dict: strict loading says so
    for name, value in _raw_state(module).items():
        if LORA_KEY not in name:
            state_dict.setdefault(prefix + name, value.detach())


class BaseFingerprint(nn.Module):
    """The SHA-1 of the pretrained weights a LoRA run adapts (a buffer its checkpoints hold,
    beside the adapters): loading the adapters onto other base weights is refused."""

    def __init__(self, fingerprint: str, source: str):
        super().__init__()
        self.source = source
        self.register_buffer('fingerprint_bytes', torch.tensor(
            list(bytes.fromhex(fingerprint)), dtype=torch.uint8))

    @property
    def fingerprint(self) -> str:
        return bytes(self.fingerprint_bytes.cpu().tolist()).hex()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        saved = state_dict.get(prefix + 'fingerprint_bytes')
        if saved is not None and bytes(saved.cpu().tolist()).hex() != self.fingerprint:
            from ..engine import CheckpointError
            raise CheckpointError(
                f'these LoRA adapters were trained on other base weights (fingerprint '
                f'{bytes(saved.cpu().tolist()).hex()[:12]}) than model.pretrained gives '
                f'({self.source}, {self.fingerprint[:12]}): build the config with the '
                'pretrained weights the run started from')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return f'{self.fingerprint[:12]}, {self.source}'


def merged_network(unet: nn.Module) -> nn.Module:
    """The denoiser's network with its LoRA adapters merged into the weights they adapt, as
    a copy without peft layers (what a diffusers pipeline saves and loads without peft); the
    network itself when it has no adapters."""
    import copy
    network = network_of(unet)
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return network
    if not any(isinstance(m, LoraLayer) for m in network.modules()):
        return network
    merged = copy.deepcopy(network)
    for name, module in list(merged.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent, _, child = name.rpartition('.')
            setattr(merged.get_submodule(parent) if parent else merged, child,
                    module.get_base_layer())
    merged._state_dict_hooks.clear()
    return merged


def _is_diffusers(network: nn.Module) -> bool:
    from diffusers import ModelMixin
    return isinstance(network, ModelMixin)


# -- memory savers -------------------------------------------------------------------------------
def enable_gradient_checkpointing(unet: nn.Module) -> int:
    """Recompute the activations of the denoiser's blocks in the backward pass
    (``model.gradient_checkpointing``): diffusers' own switch where the model declares it,
    else the ``gradient_checkpointing`` flag of each of its diffusers blocks that has one
    (UNet2DModel's blocks have it, the model does not declare it in diffusers 0.24). Returns
    the number of blocks switched."""
    network = network_of(unet)
    blocks = [m for m in network.modules() if hasattr(m, 'gradient_checkpointing')
              and m is not network]
    if not _is_diffusers(network) or not blocks:
        raise ValueError(f'model.gradient_checkpointing: {type(network).__name__} has no '
                         'blocks that recompute their activations (diffusers UNets have)')
    if getattr(network, '_supports_gradient_checkpointing', False):
        network.enable_gradient_checkpointing()
    else:
        for block in blocks:
            block.gradient_checkpointing = True
    return len(blocks)


def set_attention(unet: nn.Module, implementation: str) -> None:
    network = network_of(unet)
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(f'model.attention must be one of {ATTENTION_IMPLEMENTATIONS} (or '
                         f'None), got {implementation!r}')
    from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0
    layers = [m for m in network.modules() if isinstance(m, Attention)]
    if not _is_diffusers(network) or not layers:
        raise ValueError(f'model.attention: {type(network).__name__} has no diffusers '
                         'attention layers whose implementation could be chosen')
    for layer in layers:
        layer.set_processor(AttnProcessor2_0() if implementation == 'sdpa' else AttnProcessor())


# -- conditioning --------------------------------------------------------------------------------
def needs_conditioning(unet: nn.Module) -> bool:
    """Whether the denoiser's forward requires ``encoder_hidden_states``."""
    params = inspect.signature(network_of(unet).forward).parameters
    p = params.get('encoder_hidden_states')
    return p is not None and p.default is inspect.Parameter.empty


class Conditioning(nn.Module):
    """The ``encoder_hidden_states`` given to a conditional denoiser with every frame
    (``model.conditioning``): a fixed embedding from a file (a buffer: checkpoints keep the
    one the run trained with) or ``learned_tokens`` trained with the network (zeros at
    first)."""

    def __init__(self, cfg: dict, dim: int):
        super().__init__()
        opts = _options(cfg, dict(file=None, learned_tokens=None), 'model.conditioning')
        if (opts['file'] is None) == (opts['learned_tokens'] is None):
            raise ValueError('model.conditioning takes one of file=PATH (a fixed embedding, '
                             'L x D) or learned_tokens=N')
        if opts['file'] is not None:
            embedding = self._read(opts['file'], dim)
            self.register_buffer('embedding', embedding)
            self.source = opts['file']
        else:
            n = opts['learned_tokens']
            if not (isinstance(n, int) and n >= 1):
                raise ValueError(f'model.conditioning.learned_tokens must be an integer >= 1, '
                                 f'got {n!r}')
            self.embedding = nn.Parameter(torch.zeros(n, dim))
            self.source = f'{n} learned tokens'

    @staticmethod
    def _read(path: str, dim: int) -> Tensor:
        key = 'model.conditioning.file'
        if not osp.isfile(path):
            raise FileNotFoundError(f'{key}={path!r} does not exist: compute the embedding '
                                    'once (docs/training.md, "Fine-tuning") and save it there')
        value = _read_weight_file(path)
        if isinstance(value, dict):
            tensors = [v for v in value.values() if torch.is_tensor(v)]
            if len(tensors) != 1:
                raise ValueError(f'{key}={path!r} holds {len(tensors)} tensors; it must hold '
                                 'one embedding')
            value = tensors[0]
        if not torch.is_tensor(value):
            raise ValueError(f'{key}={path!r} holds a {type(value).__name__}, not a tensor')
        if value.dim() == 3 and value.shape[0] == 1:
            value = value[0]
        if value.dim() != 2 or value.shape[1] != dim:
            raise ValueError(f'{key}={path!r} holds a tensor of shape {tuple(value.shape)}; '
                             f'the denoiser attends to L x {dim} (its cross_attention_dim)')
        return value.detach().float().clone()

    def forward(self, n: int) -> Tensor:
        """The embedding for ``n`` frames: n x L x D."""
        return self.embedding.unsqueeze(0).expand(n, -1, -1)

    def extra_repr(self) -> str:
        return f'{tuple(self.embedding.shape)}, from {self.source}'


def build_conditioning(unet: nn.Module, cfg: Optional[dict]) -> Optional[Conditioning]:
    """``model.conditioning`` for the denoiser, checked against what it needs."""
    network = network_of(unet)
    if not needs_conditioning(unet):
        if cfg is not None:
            raise ValueError(f'model.conditioning is set but model.unet '
                             f'({type(network).__name__}) takes no encoder_hidden_states')
        return None
    if cfg is None:
        raise ValueError(f'model.unet ({type(network).__name__}) needs encoder_hidden_states: '
                         'set model.conditioning=dict(file=PATH) (a fixed embedding, e.g. of '
                         'the empty prompt) or dict(learned_tokens=N)')
    dim = network.config.get('cross_attention_dim')
    if isinstance(dim, (list, tuple)):
        dim = dim[0]
    return Conditioning(cfg, int(dim))

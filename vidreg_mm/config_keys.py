"""Config keys that nothing reads: refused with the closest known key, not silently ignored.

Two rules (:func:`unknown_keys`), each error naming the dotted key:

- a top-level key that ``--cfg-options`` adds, where neither the config files nor MMEngine's
  Runner have it (``data_rot=DIR`` would otherwise be kept and never read, and the run would
  train on the default data);
- a key of a built module's dict (a dict with ``type``, anywhere in the config) that the
  class does not take: its ``__init__``'s arguments, through the ``**kwargs`` it passes to
  its bases (``model.loss.lamda_reg``, ``train_cfg.max_iter`` would otherwise fail with a
  TypeError that names no key, or, under ``**kwargs``, not at all).

Classes whose arguments cannot be known (``**kwargs`` up to ``object``) are not checked.
"""
import difflib
import inspect
from typing import Iterable, List, Optional, Set

#: registries a ``type`` is looked up in, in order (the first that has the name)
REGISTRIES = ('MODELS', 'DIFFUSION_SCHEDULERS', 'DATASETS', 'TRANSFORMS', 'DATA_SAMPLERS',
              'LOOPS', 'EVALUATORS', 'METRICS', 'HOOKS', 'OPTIM_WRAPPERS', 'OPTIMIZERS',
              'PARAM_SCHEDULERS', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS')
#: keys of a module's dict that the registry or the Runner reads, not the class
BUILD_KEYS = {'type', '_scope_', '_delete_', 'priority'}
#: top-level keys that tools and the project read besides the Runner's arguments
EXTRA_TOP_LEVEL = {'custom_imports', 'wandb', 'work_dir', 'launcher', 'default_scope'}


def _closest(key: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ''


def arguments_of(cls) -> Optional[Set[str]]:
    """The keyword arguments ``cls`` takes, following ``**kwargs`` through its bases' (or a
    function's own); None where they cannot be known."""
    if inspect.isfunction(cls):
        params = inspect.signature(cls).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params}
    names: Set[str] = set()
    for klass in getattr(cls, '__mro__', ()):
        init = klass.__dict__.get('__init__')
        if init is None or klass is object:
            continue
        try:
            params = list(inspect.signature(init).parameters.values())
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params[1:] if p.kind not in (p.VAR_POSITIONAL,
                                                                p.VAR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


def _resolve(kind):
    if not isinstance(kind, str):
        return kind if callable(kind) else None
    from mmagic import registry
    for name in REGISTRIES:
        reg = getattr(registry, name, None)
        if reg is None:
            continue
        try:
            found = reg.get(kind)
        except Exception:  # a scope that cannot be imported: not this registry
            found = None
        if found is not None:
            return found
    return None


def _consumed_keys(path: str) -> Set[str]:
    """Keys of the module dict at ``path`` that the project reads before building it."""
    if path == 'model.autoencoder':
        from .models.latent import AUTOENCODER_KEYS
        return set(AUTOENCODER_KEYS)
    return set()


def _module_keys(node, path: str, errors: List[str]) -> None:
    if isinstance(node, dict):
        if 'type' in node:
            cls = _resolve(node['type'])
            known = arguments_of(cls) if cls is not None else None
            wrapped = getattr(cls, '_module_cls', None)
            if wrapped is not None:  # MMagic's DiffusersWrapper: the keys go to the diffusers
                # class, or to its from_pretrained / load_config (open: not checked)
                inner = None if ('from_pretrained' in node or 'from_config' in node) else (
                    arguments_of(wrapped))
                known = None if inner is None else inner | arguments_of(cls)
            known = None if known is None else known | _consumed_keys(path)
            if known is not None:
                name = getattr(cls, '__name__', str(node['type']))
                for key in node:
                    if key not in known and key not in BUILD_KEYS:
                        errors.append(f'{path}.{key}: {name} takes no argument {key!r}'
                                      + _closest(key, known))
        for key, value in node.items():
            _module_keys(value, f'{path}.{key}' if path else str(key), errors)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _module_keys(value, f'{path}[{i}]', errors)


def runner_keys() -> Set[str]:
    from mmengine.runner import Runner
    return arguments_of(Runner) | EXTRA_TOP_LEVEL


def merge_options(cfg, options: dict) -> None:
    """``cfg.merge_from_dict(options)`` (``--cfg-options``), refusing the top-level keys it
    would add that nothing reads, and the module keys of what it adds (ConfigError naming
    them)."""
    from .config_check import ConfigError
    file_keys = set(cfg.keys())
    cfg.merge_from_dict(options)
    errors = unknown_keys({k: cfg[k] for k in cfg.keys() if k not in file_keys}, file_keys)
    if errors:
        raise ConfigError('invalid config (--cfg-options):\n  ' + '\n  '.join(errors))


def merge_cli_options(cfg, options) -> None:
    """:func:`merge_options` for a command-line tool's ``--cfg-options`` (None or a dict): an
    option that nothing reads ends the tool with ``error: invalid config`` naming it."""
    from .config_check import ConfigError
    if options:
        try:
            merge_options(cfg, dict(options))
        except ConfigError as e:
            raise SystemExit(f'error: {e}') from None


def unknown_keys(cfg, file_keys: Optional[Iterable[str]] = None) -> List[str]:
    """Errors for the keys of ``cfg`` that nothing reads (see the module docstring);
    ``file_keys``: the top-level keys of the config files, before the command line's
    overrides (None: the top level is not checked)."""
    errors: List[str] = []
    if file_keys is not None:
        known = set(file_keys) | runner_keys()
        errors += [f'{key}: no config file or MMEngine key of that name' + _closest(key, known)
                   for key in cfg.keys() if key not in known]
    _module_keys(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg), '', errors)
    return errors


#: top-level keys that differ between a run and its resumption by design (the experiment name
#: labels a run's logs: vidreg_mm.run_config.name_this_experiment)
RUN_ONLY_KEYS = ('work_dir', 'launcher', 'resume', 'load_from', 'experiment_name')


def flatten(node, path: str = '') -> dict:
    """``{'a.b[0].c': value}`` for every leaf of a config's dicts and lists."""
    if isinstance(node, dict):
        items = [(f'{path}.{k}' if path else str(k), v) for k, v in node.items()]
    elif isinstance(node, (list, tuple)):
        items = [(f'{path}[{i}]', v) for i, v in enumerate(node)]
    else:
        return {path: node}
    out = {}
    for key, value in items:
        out.update(flatten(value, key))
    return out or {path: node}


def config_changes(saved_text: str, cfg) -> List[str]:
    """What ``cfg`` changes against the config a checkpoint was trained with (MMEngine keeps
    its text in ``meta['cfg']``): ``key: before -> now`` for every differing leaf, the run's
    own keys (work dir, launcher, resume) aside."""
    from mmengine.config import Config
    before = flatten(Config.fromstring(saved_text, '.py').to_dict())
    now = flatten(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg))
    missing = object()
    changes = []
    for key in sorted(set(before) | set(now)):
        if key.split('.')[0].split('[')[0] in RUN_ONLY_KEYS:
            continue
        old, new = before.get(key, missing), now.get(key, missing)
        if old != new and not (isinstance(old, (list, tuple)) and isinstance(new, (list, tuple))
                               and list(old) == list(new)):
            show = (lambda v: '(not set)' if v is missing else repr(v))  # noqa: E731
            changes.append(f'{key}: {show(old)} -> {show(new)}')
    return changes

"""Where vidreg_mm's modules live: MMagic's registries (scope ``mmagic``).

The project defines no registries of its own. Every module is registered into
:mod:`mmagic.registry`, so a config with ``default_scope = 'mmagic'`` and
``custom_imports = dict(imports=['vidreg_mm'], allow_failed_imports=False)`` builds MMagic's
modules and ours alike.
"""
from typing import Dict, List

from mmagic import registry as mmagic_registry
from mmengine.registry import DefaultScope, Registry


def mmagic_registries() -> List[Registry]:
    """All registries that :mod:`mmagic.registry` defines."""
    return [obj for obj in vars(mmagic_registry).values()
            if isinstance(obj, Registry) and obj.scope == 'mmagic']


def project_modules() -> Dict[Registry, List[str]]:
    """The names vidreg_mm has registered, by registry (found by each class's module)."""
    found = {}
    for registry in mmagic_registries():
        names = sorted(name for name, obj in registry.module_dict.items()
                       if getattr(obj, '__module__', '').startswith('vidreg_mm.'))
        if names:
            found[registry] = names
    return found


def mmagic_scope():
    """Context in which registry look-ups default to MMagic's scope, unless a runner (or the
    user) has set a default scope already. Lets datasets and models be built outside a Runner,
    where MMEngine's base classes would otherwise look only in MMEngine's root registries."""
    scope = None if DefaultScope.get_current_instance() else 'mmagic'
    return DefaultScope.overwrite_default_scope(scope)

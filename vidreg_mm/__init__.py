"""vidreg-mm: fitting image diffusion models on video datasets, as an MMagic plugin.

Importing the package registers its modules into MMagic's registries (scope ``mmagic``),
so configs use them with ``default_scope = 'mmagic'`` and
``custom_imports = dict(imports=['vidreg_mm'], allow_failed_imports=False)``.
"""
import warnings

# diffusers 0.24 (MMagic 1.2's) calls a torch function deprecated since torch 2.2 when it is
# imported: the warning says nothing about a run. Silenced for this import only (the
# process's warning filters are as they were afterwards).
with warnings.catch_warnings():
    warnings.filterwarnings('ignore', r'`torch\.utils\._pytree\._register_pytree_node` is '
                            'deprecated', FutureWarning, 'diffusers')
    # MMagic 1.2.0 names np.bool8 when it is imported, an alias that numpy 2 removed (np.bool_
    # is the same type). The tested stack pins numpy < 2 (requirements/constraints.txt); an
    # environment of numpy 2 (the offline install into one whose compiled packages need it,
    # tools/offline_wheels.py) gets the alias back, before MMagic is imported. Inside this
    # block: numpy's import may add warning filters, which are restored after it.
    import numpy as np
    if not hasattr(np, 'bool8'):
        np.bool8 = np.bool_
    from . import datasets, engine, evaluation, models  # noqa: F401  registers the modules
from .version import __version__  # noqa: F401

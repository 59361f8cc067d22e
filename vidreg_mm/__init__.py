"""vidreg-mm: fitting image diffusion models on video datasets, as an MMagic plugin.

Importing the package registers its modules into MMagic's registries (scope ``mmagic``),
so configs use them with ``default_scope = 'mmagic'`` and
``custom_imports = dict(imports=['vidreg_mm'], allow_failed_imports=False)``.
"""
from . import datasets, engine, evaluation, models  # noqa: F401  registers the modules
from .version import __version__  # noqa: F401

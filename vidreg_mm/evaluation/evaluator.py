"""MMagic's evaluator with named metrics, so that a config overrides one metric by key."""
from mmagic.evaluation import Evaluator
from mmagic.registry import EVALUATORS


@EVALUATORS.register_module()
class NamedMetricsEvaluator(Evaluator):
    """MMagic's generative-model ``Evaluator`` whose ``metrics`` is a dict of named entries::

        val_evaluator = dict(type='NamedMetricsEvaluator', metrics=dict(
            fid_train=dict(type='FrameFID', ...), fid_val=dict(type='FrameFID', ...)))

    MMEngine's configs merge dicts but replace lists, so a name lets a child config or
    ``--cfg-options val_evaluator.metrics.fid_val.fake_nums=5000`` change one metric without
    restating the others. Entries set to None are left out; metrics run in the order given.
    A list of metrics works as in MMagic.
    """

    def __init__(self, metrics):
        if isinstance(metrics, dict) and 'type' not in metrics:
            metrics = [m for m in metrics.values() if m is not None]
        super().__init__(metrics)

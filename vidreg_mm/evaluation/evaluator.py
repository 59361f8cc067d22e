"""MMagic's evaluator with named metrics, so that a config overrides one metric by key."""
from mmagic.evaluation import Evaluator
from mmagic.registry import EVALUATORS

from .metrics.feature_cache import FeatureCache


@EVALUATORS.register_module()
class NamedMetricsEvaluator(Evaluator):
    """MMagic's generative-model ``Evaluator`` whose ``metrics`` is a dict of named entries::

        val_evaluator = dict(type='NamedMetricsEvaluator', metrics=dict(
            fid_train=dict(type='FrameFID', ...), fid_val=dict(type='FrameFID', ...)))

    MMEngine's configs merge dicts but replace lists, so a name lets a child config or
    ``--cfg-options val_evaluator.metrics.fid_val.fake_nums=5000`` change one metric without
    restating the others. Entries set to None are left out; metrics run in the order given.
    A list of metrics works as in MMagic.

    The evaluator owns the features of its pass (:class:`FeatureCache`): the metrics that
    extract features share them while the pass runs, and they are dropped when it ends
    (``evaluate``).
    """

    def __init__(self, metrics):
        if isinstance(metrics, dict) and 'type' not in metrics:
            metrics = [m for m in metrics.values() if m is not None]
        super().__init__(metrics)
        self.feature_cache = FeatureCache()
        for metric in self.metrics or ():
            if hasattr(metric, 'feature_cache'):
                metric.feature_cache = self.feature_cache

    def evaluate(self) -> dict:
        try:
            return super().evaluate()
        finally:
            self.feature_cache.clear()

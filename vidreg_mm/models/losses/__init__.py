from .temporal_reg_loss import TemporalRegLoss

__all__ = ['TemporalRegLoss']

"""Training: the one loop (`fit`), optimisers, schedules and checkpoints."""
from gradkit.training.loop import (Callback, FitResult, FitState, NonFiniteLoss, evaluate, fit,
                                  in_split_order, predict_split)

__all__ = ["Callback", "FitResult", "FitState", "NonFiniteLoss", "evaluate", "fit", "in_split_order",
           "predict_split"]

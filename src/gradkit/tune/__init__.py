"""Hyperparameter tuning on Optuna (`gradkit tune`) and the learning-rate range test
(`gradkit lr-find`).

    gradkit tune digits-mlp --trials 30 --space optim.lr=loguniform:1e-4:1e-1 \\
        --space train.batch_size=choice:32,64,128          # -> study dir, best.yaml, report.html
    gradkit lr-find digits-mlp                               # -> plot, suggested optim.lr

    import gradkit.tune
    result = gradkit.tune.tune("digits-mlp", space=["optim.lr=loguniform:1e-4:1e-1"], trials=20)
    from gradkit.tune.lr_find import lr_find
    found = lr_find("digits-mlp")

`study.py` runs the study, `trial.py` one trial, `space.py` parses and checks `--space`,
`settings.py` what defines a study and its storage, `outputs.py` and `report.py` what a study
leaves, `lr_find.py` the learning-rate range test (imported by its module's name: the package's
attribute `lr_find` is that module). Optuna is imported only when a study runs.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "tune":
        from gradkit.tune.study import tune

        return tune
    raise AttributeError(f"module 'gradkit.tune' has no attribute '{name}'")


__all__ = ["tune"]

"""Plain-language findings about a run, each computed from its numbers.

A check returns a finding only when the data shows it; a clean run yields no findings and
the report then says "No problems detected." Hints name real config overrides (written in
`backticks`) so a reader can act on them from the command line.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradkit.report.rundir import RunData, as_float, fmt_num

# Thresholds. A validation loss "rose" when it ended 3% above its minimum: less than that is
# epoch-to-epoch noise on typical validation sets of a few thousand examples.
RISE_TOL = 0.03
STILL_FALLING_TOL = 0.002  # last epoch improved val loss by at least 0.2%
DIVERGE_TOL = 0.10  # training loss ended 10% above its minimum
GAP_TOL = 0.05  # train minus val accuracy, in accuracy units (5 points)
NEAR_BASELINE = 0.05  # "within a few points" of a trivial baseline
CONFUSION_MIN_RATE = 0.02  # ignore confusions under 2% of a class: a near-perfect model
MAX_CONFUSIONS = 3


@dataclass(frozen=True)
class Finding:
    """One diagnostic: `code` is a stable id (e.g. "overfitting"), `text` one sentence."""

    code: str
    text: str
    level: str = "warning"  # "warning" (something to fix) or "info" (worth knowing)


def diagnose(run: RunData) -> list[Finding]:
    """All findings that hold for a run, most actionable first.

    Example:
        >>> from gradkit.report.rundir import load_run
        >>> [f.code for f in diagnose(load_run("runs/mnist-mlp"))]  # doctest: +SKIP
        ['overfitting', 'train_val_gap', 'confusion']
    """
    checks: tuple[Callable[[RunData], list[Finding]], ...] = (
        _failed, _diverging, _overfitting, _still_improving, _train_val_gap,
        _underfitting, _vs_linear_baseline, _early_stop, _confusions,
    )
    if run.kind == "rl":  # returns against the random policy and the threshold, not epochs
        checks = (_failed, _agent)
    return [finding for check in checks for finding in check(run)]


def _paired(run: RunData, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, train, val) for epochs where both train/metric and val/metric are finite."""
    train = dict(zip(*run.series(f"train/{metric}")))
    val = dict(zip(*run.series(f"val/{metric}")))
    epochs = [e for e in sorted(set(train) & set(val)) if np.isfinite([train[e], val[e]]).all()]
    return (np.asarray(epochs), np.asarray([train[e] for e in epochs]),
            np.asarray([val[e] for e in epochs]))


def _finite(run: RunData, key: str) -> tuple[np.ndarray, np.ndarray]:
    epochs, values = run.series(key)
    keep = np.isfinite(values)
    return epochs[keep], values[keep]


def _lr(run: RunData) -> float | None:
    lr = as_float(run.setting("optim", "lr"))
    if lr is None and run.epochs:
        lr = as_float(run.epochs[0].get("lr"))
    return lr


def _failed(run: RunData) -> list[Finding]:
    if run.run.get("status") != "failed":
        return []
    error = str(run.run.get("error") or "no error recorded").strip().splitlines()
    last = error[-1][:300] if error else "no error recorded"
    done = run.run.get("epochs_completed", len(run.epochs))
    return [Finding("failed", f"The run failed after {done} completed epoch(s): {last}")]


def _agent(run: RunData) -> list[Finding]:
    """An RL run: no better than random, not solved, or ending well below its best evaluation."""
    best, final = run.metric("eval/best_mean_return"), run.metric("eval/mean_return")
    random, threshold = run.metric("baseline/random_mean_return"), run.metric("eval/threshold")
    rl = run.config.get("rl") if isinstance(run.config.get("rl"), dict) else {}
    steps = run.metric("train/steps") or rl.get("total_steps")
    if best is None or run.run.get("status") == "failed":
        return []
    longer = f"`rl.total_steps={int(2 * steps)}`" if steps else "more `rl.total_steps`"
    found = []
    spread = abs(random) * 0.05 + 1e-9 if random is not None else 0.0
    if random is not None and best <= random + spread:
        found.append(Finding("no_better_than_random", f"The agent's best evaluation mean return "
                             f"({fmt_num(best)}) is no better than the random policy's "
                             f"({fmt_num(random)}): it has not learnt yet; train longer ({longer}) "
                             "or lower the learning rate (`rl.lr`)."))
    elif threshold is not None and run.metric("eval/steps_to_solve") is None:
        found.append(Finding("not_solved", f"Not solved: the best evaluation mean return is "
                             f"{fmt_num(best)} against the threshold {fmt_num(threshold)} after "
                             f"{fmt_num(int(steps)) if steps else '?'} environment steps; try "
                             f"{longer}.", level="info"))
    if final is not None and random is not None and best - final > 0.25 * max(best - random, 1e-9):
        found.append(Finding("forgetting", f"The last evaluation ({fmt_num(final)}) is well below "
                             f"the best ({fmt_num(best)}): the policy got worse late in training. "
                             "checkpoints/best.pt keeps the best one (`gradkit play` and the "
                             "episode below use it).", level="info"))
    return found


def _diverging(run: RunData) -> list[Finding]:
    epochs, loss = run.series("train/loss")
    lr = _lr(run)
    hint = f"try `optim.lr={lr / 10:g}` (a tenth)" if lr else "try a learning rate ten times lower"
    bad = ~np.isfinite(loss)
    if bad.any():
        text = (f"Training loss became {loss[bad][0]} at epoch {epochs[bad][0]:g}: training "
                f"diverged; the learning rate may be too high; {hint}.")
        return [Finding("diverging", text)]
    if len(loss) < 2:
        return []
    low = loss.min()
    if loss[-1] > loss[0] or (loss.argmin() < len(loss) - 1 and loss[-1] > low * (1 + DIVERGE_TOL)):
        text = (f"Training loss rose (lowest {fmt_num(low)} at epoch {epochs[loss.argmin()]:g}, "
                f"{fmt_num(loss[-1])} at the last epoch): the learning rate may be too high; "
                f"{hint}.")
        return [Finding("diverging", text)]
    return []


def _overfitting(run: RunData) -> list[Finding]:
    epochs, train, val = _paired(run, "loss")
    if len(val) < 2:
        return []
    best = int(val.argmin())
    rose = val[-1] - val[best] > RISE_TOL * abs(val[best])
    if best == len(val) - 1 or not rose or train[-1] >= train[best]:
        return []
    text = (f"Validation loss rose after epoch {epochs[best]:g} ({fmt_num(val[best])} → "
            f"{fmt_num(val[-1])}) while training loss fell ({fmt_num(train[best])} → "
            f"{fmt_num(train[-1])}): over-fitting; try {_regularise_hint(run)}.")
    return [Finding("overfitting", text)]


def _regularise_hint(run: RunData) -> str:
    """Overrides that add regularisation, starting from the run's own values."""
    hints = []
    dropout = as_float(run.setting("model", "dropout"))
    if dropout is not None and dropout < 0.5:  # only suggest a key the model actually has
        hints.append(f"`model.dropout={min(dropout + 0.2, 0.5):.1f}`")
    decay = as_float(run.setting("optim", "weight_decay"))
    hints.append(f"`optim.weight_decay={decay * 10 if decay else 1e-4:g}`")
    return " or ".join(hints)


def _still_improving(run: RunData) -> list[Finding]:
    epochs, val = _finite(run, "val/loss")
    if len(val) < 2 or run.run.get("status") == "failed":
        return []
    if val[-1] > val.min() or val[-2] - val[-1] <= STILL_FALLING_TOL * abs(val[-2]):
        return []
    fed = run.config.get("federated") if isinstance(run.config.get("federated"), dict) else None
    key, unit = ("federated.rounds", "round") if fed else ("train.epochs", "epoch")
    configured = as_float(fed.get("rounds") if fed else run.setting("train", "epochs")) or len(val)
    text = (f"Validation loss was still falling at the last {unit} ({fmt_num(val[-2])} → "
            f"{fmt_num(val[-1])}): train longer, e.g. `{key}={2 * int(configured)}`.")
    return [Finding("still_improving", text)]


def _train_val_gap(run: RunData) -> list[Finding]:
    _, train, val = _paired(run, "accuracy")
    if not len(val) or train[-1] - val[-1] <= GAP_TOL:
        return []
    text = (f"Training accuracy {fmt_num(train[-1])} vs validation {fmt_num(val[-1])} at the "
            f"last epoch: a gap of {100 * (train[-1] - val[-1]):.1f} points, so the model "
            f"memorises part of the training set.")
    return [Finding("train_val_gap", text)]


def _underfitting(run: RunData) -> list[Finding]:
    acc, majority = run.metric("test/accuracy"), run.metric("baseline/majority/accuracy")
    if acc is not None and majority is not None and acc - majority < NEAR_BASELINE:
        text = (f"Test accuracy {fmt_num(acc)} is within {100 * NEAR_BASELINE:.0f} points of "
                f"the majority-class baseline ({fmt_num(majority)}): the model barely learned; "
                f"under-fitting. Check the labels and inputs, then try a larger model or a "
                f"higher learning rate.")
        return [Finding("underfitting", text)]
    _, train_acc = _finite(run, "train/accuracy")
    floor = 0.6 if majority is None else majority + 0.5 * (1 - majority)
    if len(train_acc) and train_acc[-1] < floor:
        text = (f"Training accuracy is only {fmt_num(train_acc[-1])} at the last epoch: the "
                f"model does not fit even the training data (under-fitting); try a larger "
                f"model or more epochs.")
        return [Finding("underfitting", text)]
    r2, mean_r2 = run.metric("test/r2"), run.metric("baseline/mean/r2")
    if r2 is not None and r2 - (mean_r2 or 0.0) < NEAR_BASELINE:
        text = (f"Test R² {fmt_num(r2)} is barely above predicting the mean "
                f"(R² {fmt_num(mean_r2 or 0.0)}): under-fitting.")
        return [Finding("underfitting", text)]
    return []


def _vs_linear_baseline(run: RunData) -> list[Finding]:
    acc = run.metric("test/accuracy")
    logreg = run.metric("baseline/logreg/accuracy")
    if logreg is None:
        logreg = run.metric("baseline/tfidf-logreg/accuracy")
    if acc is not None and logreg is not None and acc <= logreg:
        text = (f"The model (test accuracy {fmt_num(acc)}) does not beat logistic regression "
                f"({fmt_num(logreg)}): a linear model is as good here.")
        return [Finding("below_linear_baseline", text)]
    mase, naive = run.metric("test/mase"), run.metric("baseline/persistence/mase")
    if mase is not None and naive is not None and mase >= naive:
        text = (f"The model (test MASE {fmt_num(mase)}) does not beat persistence, repeating the "
                f"last value ({fmt_num(naive)}): it has learnt nothing about the series' dynamics.")
        return [Finding("below_naive_forecast", text)]
    mse, linear = run.metric("test/mse"), run.metric("baseline/linear/mse")
    if mse is not None and linear is not None and mse >= linear:
        text = (f"The model (test MSE {fmt_num(mse)}) does not beat linear regression "
                f"({fmt_num(linear)}): a linear model is as good here.")
        return [Finding("below_linear_baseline", text)]
    return []


def _early_stop(run: RunData) -> list[Finding]:
    reason = run.run.get("stop_reason")
    if run.run.get("status") != "stopped_early" and not reason:
        return []
    done = run.run.get("epochs_completed", len(run.epochs))
    text = f"Training stopped early after epoch {done}"
    configured = run.setting("train", "epochs")
    text += f" of {configured}" if configured else ""
    text += f" ({reason})" if reason else ""
    best, value = run.run.get("best_epoch"), as_float(run.run.get("best_value"))
    if best is not None and value is not None:
        monitor = run.run.get("monitor") or "monitored metric"
        text += f"; best {monitor} {fmt_num(value)} at epoch {best}"
    return [Finding("early_stop", text + ".", level="info")]


def _confusions(run: RunData) -> list[Finding]:
    cm = run.confusion_matrix()
    if cm is None or len(cm) < 2:
        return []
    names = run.class_names(cm.shape[0])
    off = cm.copy()
    np.fill_diagonal(off, 0)
    rows = cm.sum(axis=1)
    worst = off.argmax(axis=1)  # per true class, the wrong class it is most often called
    counts = off[np.arange(len(off)), worst]
    rates = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    order = [i for i in np.argsort(-rates, kind="stable") if rates[i] >= CONFUSION_MIN_RATE]
    return [
        Finding("confusion", f"'{names[i]}' is most often mistaken for '{names[worst[i]]}' "
                f"({counts[i]:.0f} of {rows[i]:.0f}).", level="info")
        for i in order[:MAX_CONFUSIONS]
    ]

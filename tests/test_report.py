"""gradkit.report on synthetic run directories written to the documented run-dir contract."""
from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from gradkit.report import build_report
from gradkit.report.diagnostics import diagnose
from gradkit.report.rundir import load_run

FASHION = ["t-shirt/top", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle boot"]
SHIRT, TSHIRT, PULLOVER, COAT = 6, 0, 2, 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
# src=/href= pointing off the page, including protocol-relative "//cdn...".
EXTERNAL_REF = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


# ---------------------------------------------------------------- synthetic run directories

def write_run(run_dir: Path, *, config: dict, run: dict, epochs: list[dict],
              metrics: dict | None = None, env: dict | None = None,
              details: dict | None = None, samples: dict | None = None) -> Path:
    """Write the files gradkit's trainer writes; None means 'this file is absent'."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if env is not None:
        (run_dir / "env.json").write_text(json.dumps(env))
    if details is not None or samples is not None:
        (run_dir / "artifacts").mkdir(exist_ok=True)
    if details is not None:
        (run_dir / "artifacts" / "test_details.json").write_text(json.dumps(details))
    if samples is not None:
        np.savez(run_dir / "artifacts" / "samples.npz", **samples)
    return run_dir


def classification_epochs(val_loss: list[float]) -> list[dict]:
    n = len(val_loss)
    train_loss = np.linspace(0.9, 0.1, n)  # always falling
    train_acc = np.linspace(0.70, 0.99, n)
    return [{"epoch": e + 1, "step": 938 * (e + 1), "time": 3.0 * (e + 1), "lr": 0.001,
             "train/loss": float(train_loss[e]), "train/accuracy": float(train_acc[e]),
             "val/loss": val_loss[e], "val/accuracy": 0.90 - 0.01 * abs(e - 5),
             "val/f1_macro": 0.89} for e in range(n)]


# Validation loss falls to its minimum at epoch 6, then climbs: classic over-fitting.
OVERFIT_VAL = [0.60, 0.45, 0.38, 0.34, 0.32, 0.30, 0.33, 0.37, 0.42, 0.48]
IMPROVING_VAL = [0.60, 0.45, 0.38, 0.34, 0.32, 0.30, 0.29, 0.28, 0.27, 0.26]


def confusion(k: int = 10, per_class: int = 1000) -> np.ndarray:
    """850 right per class, errors spread evenly; 'shirt' -> 't-shirt/top' is the worst."""
    cm = np.full((k, k), 150 // (k - 1), dtype=int)
    np.fill_diagonal(cm, 0)
    cm[SHIRT] = 0
    cm[SHIRT, TSHIRT], cm[SHIRT, PULLOVER], cm[SHIRT, COAT] = 112, 20, 18
    cm[TSHIRT, :] = 5
    cm[TSHIRT, SHIRT] = 90  # the reverse direction, smaller: must not be named first
    np.fill_diagonal(cm, 0)
    cm[np.arange(k), np.arange(k)] = per_class - cm.sum(axis=1)
    return cm


def classification_samples(n: int = 48, channels: int = 1, rng=None) -> dict:
    rng = rng or np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    pred = y.copy()
    pred[::2] = (y[::2] + 1) % 10  # half misclassified, as the trainer writes them
    prob = rng.random((n, 10)).astype(np.float32)
    prob[np.arange(n), pred] += 5
    prob /= prob.sum(axis=1, keepdims=True)
    x = rng.integers(0, 256, (n, channels, 28, 28), dtype=np.uint8)
    return {"x": x, "y": y.astype(np.int64), "pred": pred.astype(np.int64), "prob": prob}


def write_classification_run(run_dir: Path, val_loss=OVERFIT_VAL, samples=None) -> Path:
    cm = confusion()
    support = cm.sum(axis=1)
    recall = np.diag(cm) / support
    precision = np.diag(cm) / cm.sum(axis=0)
    return write_run(
        run_dir,
        config={"name": "fashion-mnist-cnn", "description": "A small CNN on Fashion-MNIST.",
                "seed": 0, "task": {"name": "classification"},
                "data": {"name": "fashion-mnist"}, "model": {"name": "cnn", "dropout": 0.1},
                "optim": {"name": "adam", "lr": 0.001, "weight_decay": 0.0},
                "train": {"epochs": 10, "batch_size": 64, "monitor": "val/loss"},
                "output": {"dir": "runs"}},
        run={"name": "fashion-mnist-cnn", "status": "completed",
             "started": "2024-05-01T12:00:00", "finished": "2024-05-01T12:01:00",
             "spec": {"task": "classification", "input_shape": [1, 28, 28], "num_classes": 10,
                      "class_names": FASHION, "feature_names": None},
             "n_params": 421_642, "device": "cpu", "epochs_completed": len(val_loss),
             "best_epoch": int(np.argmin(val_loss)) + 1, "monitor": "val/loss",
             "best_value": min(val_loss), "stop_reason": None, "train_seconds": 61.5,
             "samples": {"train": 55000, "val": 5000, "test": 10000}, "error": None},
        env={"python": "3.11.9", "torch": "2.4.0", "gradkit": "0.1.0", "threads": 2,
             "device": "cpu", "git_commit": "abc1234"},
        epochs=classification_epochs(val_loss),
        metrics={"test/accuracy": 0.912, "test/loss": 0.31, "test/f1_macro": 0.91,
                 "val/accuracy": 0.905, "baseline/majority/accuracy": 0.1,
                 "baseline/logreg/accuracy": 0.842, "baseline/logreg/seconds": 4.2},
        details={"confusion_matrix": cm.tolist(),
                 "per_class": {"precision": precision.tolist(), "recall": recall.tolist(),
                               "f1": (2 * precision * recall / (precision + recall)).tolist(),
                               "support": support.tolist()}},
        samples=classification_samples() if samples is None else samples,
    )


def write_regression_run(run_dir: Path) -> Path:
    rng = np.random.default_rng(1)
    y = rng.normal(2.0, 1.0, 500).astype(np.float32)
    return write_run(
        run_dir,
        config={"name": "california-mlp", "description": "House prices.", "seed": 0,
                "task": {"name": "regression"}, "data": {"name": "california"},
                "model": {"name": "mlp"}, "optim": {"name": "adam", "lr": 0.003},
                "train": {"epochs": 4, "batch_size": 128, "monitor": "val/loss"}},
        run={"name": "california-mlp", "status": "completed", "started": "2024-05-01T12:00:00",
             "spec": {"task": "regression", "input_shape": [8], "num_classes": None,
                      "class_names": None, "feature_names": [f"f{i}" for i in range(8)]},
             "n_params": 1_000, "device": "cpu", "epochs_completed": 4, "best_epoch": 4,
             "monitor": "val/loss", "best_value": 0.30, "train_seconds": 5.0},
        epochs=[{"epoch": e, "train/loss": 1.0 / e, "val/loss": 1.1 / e, "val/mae": 0.5 / e,
                 "val/r2": 1 - 0.5 / e, "lr": 0.003} for e in range(1, 5)],
        metrics={"test/mse": 0.3, "test/rmse": 0.55, "test/r2": 0.7, "baseline/mean/mse": 1.0,
                 "baseline/mean/r2": 0.0, "baseline/linear/mse": 0.5, "baseline/linear/r2": 0.5},
        samples={"y": y, "pred": (y + rng.normal(0, 0.5, 500)).astype(np.float32)},
    )


@pytest.fixture(scope="module")
def cls_report(tmp_path_factory) -> tuple[Path, str]:
    run_dir = write_classification_run(tmp_path_factory.mktemp("cls") / "run")
    path = build_report(run_dir)
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reg_report(tmp_path_factory) -> tuple[Path, str]:
    path = build_report(write_regression_run(tmp_path_factory.mktemp("reg") / "run"))
    return path, path.read_text(encoding="utf-8")


def codes(run_dir: Path) -> list[str]:
    return [f.code for f in diagnose(load_run(run_dir))]


def section_html(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section #{anchor}"
    return match.group(1)


# ---------------------------------------------------------------- the page as a whole

def test_report_is_written_into_the_run_dir(cls_report):
    path, page = cls_report
    assert path.name == "report.html" and path.is_file()
    assert page.startswith("<!DOCTYPE html>") and "fashion-mnist-cnn" in page
    assert "A small CNN on Fashion-MNIST." in page


def test_report_is_self_contained(cls_report):
    _, page = cls_report
    assert not EXTERNAL_REF.findall(page)
    assert "<link" not in page and "<script" not in page
    images = DATA_URI.findall(page)
    # 4 learning-curve panels (loss, accuracy, f1_macro, lr) + confusion matrix + 48 samples
    assert len(images) == 4 + 1 + 48
    for payload in images[:6]:
        assert base64.b64decode(payload, validate=True).startswith(PNG_SIGNATURE)


def test_headline_compares_with_baselines(cls_report):
    _, page = cls_report
    assert "0.912 vs 0.100 majority-class baseline, +0.812" in page
    assert "0.912 vs 0.842 logistic regression, +0.070" in page


def test_sections_appear_in_order(cls_report):
    _, page = cls_report
    anchors = re.findall(r'<section id="([a-z]+)">', page)
    assert anchors == ["summary", "diagnostics", "curves", "classification", "explanations", "config"]


def test_summary_and_config(cls_report):
    _, page = cls_report
    summary = section_html(page, "summary")
    for text in ("fashion-mnist", "cnn", "421,642", "10 / 10", "val/loss = 0.300", "61.5 s"):
        assert text in summary
    config = section_html(page, "config")
    assert "weight_decay: 0.0" in config and "abc1234" in config


# ---------------------------------------------------------------- classification results

def test_confusion_matrix_section_names_every_class(cls_report):
    _, page = cls_report
    block = re.search(r'<div id="confusion-matrix">(.*?)</div>', page, re.S).group(1)
    assert "data:image/png;base64," in block
    for name in FASHION:
        assert name in block


def test_per_class_table_and_sample_grid(cls_report):
    _, page = cls_report
    results = section_html(page, "classification")
    assert results.count('<tr class="low">') == 1  # shirt: the worst F1
    assert re.search(r'<tr class="low"><td>shirt</td>', results)
    assert results.count('class="sample wrong"') == 24
    assert results.count('class="sample right"') == 24
    assert re.search(r"pred: [^<]+ \(p=0\.\d\d\) / true: ", results)


def test_most_confused_pair_is_named_in_the_right_direction(tmp_path):
    findings = diagnose(load_run(write_classification_run(tmp_path / "run")))
    confusions = [f.text for f in findings if f.code == "confusion"]
    assert confusions[0] == "'shirt' is most often mistaken for 't-shirt/top' (112 of 1000)."
    # Every other class errs on <2% per wrong class: below the threshold, so not listed.
    assert confusions[1:] == ["'t-shirt/top' is most often mistaken for 'shirt' (90 of 1000)."]


@pytest.mark.parametrize("x", [
    np.random.default_rng(0).integers(0, 256, (48, 3, 8, 8), dtype=np.uint8),  # RGB
    np.random.default_rng(0).random((48, 12), dtype=np.float32),  # tabular rows
], ids=["rgb", "tabular"])
def test_samples_rgb_and_tabular(tmp_path, x):
    samples = classification_samples() | {"x": x}
    page = build_report(write_classification_run(tmp_path / "run", samples=samples)).read_text()
    results = section_html(page, "classification")
    if x.ndim == 4:
        assert results.count('class="sample wrong"') == 24
    else:
        assert results.count('<tr class="wrong">') == 24 and "x11" not in results
        assert "First 8 of 12 features shown." in results


# ---------------------------------------------------------------- diagnostics

def test_overfitting_fires_on_an_overfitting_curve(cls_report):
    _, page = cls_report
    diag = section_html(page, "diagnostics")
    overfit = re.search(r'<li class="warning" data-code="overfitting">(.*?)</li>', diag).group(1)
    assert "rose after epoch 6" in overfit
    assert "<code>model.dropout=0.3</code>" in overfit  # 0.1 in the config, + 0.2
    assert 'data-code="train_val_gap"' in diag and 'data-code="still_improving"' not in diag


def test_overfitting_does_not_fire_while_val_loss_improves(tmp_path):
    found = codes(write_classification_run(tmp_path / "run", val_loss=IMPROVING_VAL))
    assert "overfitting" not in found
    assert "still_improving" in found


def test_healthy_run_reports_no_problems(tmp_path):
    run_dir = write_run(
        tmp_path / "run",
        config={"name": "ok", "optim": {"lr": 0.01}, "train": {"epochs": 5}},
        run={"status": "completed", "spec": {"task": "classification"}},
        epochs=[{"epoch": e + 1, "train/loss": tl, "val/loss": vl, "train/accuracy": 0.92,
                 "val/accuracy": 0.90}
                for e, (tl, vl) in enumerate(zip([0.6, 0.4, 0.3, 0.25, 0.24],
                                                 [0.5, 0.4, 0.35, 0.34, 0.341]))],
        metrics={"test/accuracy": 0.9, "baseline/majority/accuracy": 0.1,
                 "baseline/logreg/accuracy": 0.8},
    )
    assert codes(run_dir) == []
    assert "No problems detected." in build_report(run_dir).read_text()


def test_rising_training_loss_suggests_a_tenth_of_the_lr(tmp_path):
    run_dir = write_run(
        tmp_path / "run", config={"name": "hot", "optim": {"lr": 0.1}},
        run={"status": "completed"},
        epochs=[{"epoch": e + 1, "train/loss": v, "val/loss": v}
                for e, v in enumerate([2.3, 1.9, 2.4, 3.1])],
    )
    found = {f.code: f.text for f in diagnose(load_run(run_dir))}
    assert "`optim.lr=0.01`" in found["diverging"]
    assert "overfitting" not in found


def test_near_baseline_and_below_logreg_and_early_stop(tmp_path):
    run_dir = write_run(
        tmp_path / "run", config={"name": "weak", "train": {"epochs": 20}},
        run={"status": "stopped_early", "stop_reason": "val/loss did not improve for 3 epochs",
             "epochs_completed": 7, "best_epoch": 4, "monitor": "val/loss", "best_value": 2.2},
        epochs=[{"epoch": 1, "train/loss": 2.3}],
        metrics={"test/accuracy": 0.12, "baseline/majority/accuracy": 0.10,
                 "baseline/logreg/accuracy": 0.30},
    )
    found = {f.code: f.text for f in diagnose(load_run(run_dir))}
    assert {"underfitting", "below_linear_baseline", "early_stop"} <= set(found)
    assert "after epoch 7 of 20" in found["early_stop"]


# ---------------------------------------------------------------- regression

def test_regression_report_has_scatter_and_no_confusion_matrix(reg_report):
    _, page = reg_report
    results = section_html(page, "regression")
    assert 'id="scatter"' in results and results.count("data:image/png;base64,") == 2
    assert "predicted vs actual" in results
    assert "confusion" not in page.lower() and 'id="classification"' not in page
    assert "0.700 vs 0.500 linear regression, +0.200" in page
    assert "0.300 vs 1.000 predict-the-mean baseline, -0.700" in page


# ---------------------------------------------------------------- partial and missing runs

def test_minimal_run_does_not_crash(tmp_path):
    run_dir = write_run(tmp_path / "run", config={"name": "tiny"},
                        run={"name": "tiny", "status": "failed", "error": "CUDA OOM"},
                        epochs=[{"epoch": 1, "train/loss": 2.0, "val/loss": 2.1}])
    page = build_report(run_dir).read_text()
    assert "tiny" in page and "No final test metrics" in page
    assert "Only one epoch was recorded" in page
    assert 'data-code="failed"' in page and "CUDA OOM" in page
    assert len(DATA_URI.findall(page)) == 1  # the loss panel


def test_truncated_metrics_line_and_html_in_names_are_handled(tmp_path):
    run_dir = write_run(tmp_path / "run", config={"name": "<b>bold</b>", "description": "<script>"},
                        run={}, epochs=[{"epoch": 1, "train/loss": 1.0}])
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "train/lo')  # the process died mid-write
    page = build_report(run_dir).read_text()
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page
    assert "<script" not in page
    assert "skipped 1 unreadable line(s) in metrics.jsonl" in page


def test_missing_run_dir_raises_naming_the_path(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        build_report(missing)


def test_missing_config_raises_naming_the_file(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        build_report(tmp_path / "run")


# ---------------------------------------------------------------- atomic writing

def test_write_leaves_no_temp_file_and_failure_keeps_old_report(tmp_path, monkeypatch):
    run_dir = write_run(tmp_path / "run", config={"name": "atomic"}, run={},
                        epochs=[{"epoch": 1, "train/loss": 1.0}])
    build_report(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.yaml", "metrics.jsonl", "report.html", "run.json"]
    before = (run_dir / "report.html").read_text()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"name": "renamed"}))
    with pytest.raises(OSError, match="disk full"):
        build_report(run_dir)
    assert (run_dir / "report.html").read_text() == before
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.yaml", "metrics.jsonl", "report.html", "run.json"]


def test_report_package_never_imports_torch():
    # The report must rebuild on a machine without torch; parse imports rather than import.
    import ast

    import gradkit.report

    for source in Path(gradkit.report.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "torch" for n in names), source

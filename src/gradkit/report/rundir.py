"""Read a finished run directory into one plain, tolerant `RunData` record.

Every file except `config.yaml` is optional: a run that crashed after one epoch still
deserves a report, so unreadable or missing pieces become `None`/empty plus a note.
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml


@dataclass
class RunData:
    """Everything the report needs from one run directory (see `load_run`)."""

    run_dir: Path
    config: dict[str, Any]
    config_text: str
    run: dict[str, Any]
    env: dict[str, Any]
    epochs: list[dict[str, Any]]  # one record per completed epoch, from metrics.jsonl
    metrics: dict[str, Any]  # final scalar figures, from metrics.json
    details: dict[str, Any] | None  # artifacts/test_details.json
    samples: dict[str, np.ndarray] | None  # artifacts/samples.npz
    notes: list[str] = field(default_factory=list)  # files that could not be read

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.run.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def kind(self) -> str:
        """What trained, which decides the report's sections: 'rl' (an agent in an environment),
        'federated' (a global model over clients) or 'supervised' (one model on one data set:
        classification, regression, forecast, generative, language model; see `task`)."""
        if (isinstance(self.config.get("rl"), dict) and self.config["rl"]) or self.spec.get("task") == "rl":
            return "rl"
        if isinstance(self.config.get("federated"), dict):
            return "federated"
        return "supervised"

    @property
    def task(self) -> str:
        """'classification', 'regression' or '' when nothing says which."""
        task = self.spec.get("task") or _section(self.config, "task").get("name")
        if task:
            return str(task)
        if any(k.endswith("/accuracy") for k in self.metrics):
            return "classification"
        if any(k.endswith("/r2") or k.endswith("/mse") for k in self.metrics):
            return "regression"
        return ""

    def class_names(self, k: int) -> list[str]:
        """The k class names from the spec, or '0'..'k-1' when absent or the wrong length."""
        names = self.spec.get("class_names")
        if isinstance(names, list) and len(names) == k:
            return [str(n) for n in names]
        return [str(i) for i in range(k)]

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of one per-epoch metric, skipping epochs where it is absent."""
        xs, ys = [], []
        for i, rec in enumerate(self.epochs):
            value = rec.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                xs.append(rec.get("epoch", i + 1))
                ys.append(float(value))
        return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)

    def confusion_matrix(self) -> np.ndarray | None:
        """The (K, K) test confusion matrix (rows = true class), or None if absent/malformed."""
        cm = _float_array((self.details or {}).get("confusion_matrix"))
        ok = cm is not None and cm.ndim == 2 and cm.shape[0] == cm.shape[1] > 0
        return cm if ok else None

    def per_class(self) -> dict[str, np.ndarray] | None:
        """precision, recall, f1 and support as equal-length float arrays, or None."""
        per = (self.details or {}).get("per_class")
        keys = ("precision", "recall", "f1", "support")
        if not isinstance(per, dict):
            return None
        arrays = {k: _float_array(per.get(k)) for k in keys}
        if any(a is None or a.ndim != 1 for a in arrays.values()):
            return None
        k = min(len(a) for a in arrays.values())
        return {key: a[:k] for key, a in arrays.items()} if k else None

    def metric(self, key: str) -> float | None:
        """A finite final figure from metrics.json, else None."""
        return as_float(self.metrics.get(key))

    def setting(self, section: str, key: str) -> Any:
        """config[section][key], or None when either level is missing."""
        return _section(self.config, section).get(key)


def as_float(value: Any) -> float | None:
    """value as a finite float, or None (bools, strings, NaN and inf count as missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory; only the directory and its config.yaml are required.

    Example:
        >>> run = load_run("runs/fashion-mnist-cnn")  # doctest: +SKIP
        >>> run.series("val/loss")                    # doctest: +SKIP
        (array([1., 2.]), array([0.41, 0.35]))
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"config.yaml not found in run directory: {config_path}")
    notes: list[str] = []
    config_text = config_path.read_bytes().decode("utf-8", errors="replace")
    config = _parse(config_path, lambda: yaml.safe_load(config_path.read_text(encoding="utf-8")), notes)
    if config is not None and not isinstance(config, dict):
        notes.append(f"could not read {config_path.name}: it is not a mapping of settings")
    return RunData(
        run_dir=run_dir,
        config=config if isinstance(config, dict) else {},
        config_text=config_text,
        run=_read_json_dict(run_dir / "run.json", notes),
        env=_read_json_dict(run_dir / "env.json", notes),
        epochs=_read_jsonl(run_dir / "metrics.jsonl", notes),
        metrics=_read_json_dict(run_dir / "metrics.json", notes),
        details=_read_json_dict(run_dir / "artifacts" / "test_details.json", notes) or None,
        samples=_read_npz(run_dir / "artifacts" / "samples.npz", notes),
        notes=notes,
    )


def _float_array(value: Any) -> np.ndarray | None:
    try:
        return np.asarray(value, dtype=float) if value is not None else None
    except (TypeError, ValueError):  # ragged lists or strings: treat as absent
        return None


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _parse(path: Path, read, notes: list[str]) -> Any:
    """read() or None, noting why the file could not be used."""
    try:
        return read()
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, yaml.YAMLError) as err:
        notes.append(f"could not read {path.name}: {type(err).__name__}: {err}")
        return None


def _read_json_dict(path: Path, notes: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = _parse(path, lambda: json.loads(path.read_text(encoding="utf-8")), notes)
    if data is not None and not isinstance(data, dict):
        notes.append(f"could not read {path.name}: it holds a {type(data).__name__}, not an object")
    return data if isinstance(data, dict) else {}


def _read_jsonl(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records, bad = [], 0
    text = _parse(path, lambda: path.read_text(encoding="utf-8"), notes)
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:  # a run killed mid-write can leave a truncated last line
            bad += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
    if bad:
        notes.append(f"skipped {bad} unreadable line(s) in {path.name}")
    return records


def _read_npz(path: Path, notes: list[str]) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None

    def read() -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as npz:  # never unpickle files from disk
            return {k: np.asarray(npz[k]) for k in npz.files}

    return _parse(path, read, notes)


def fmt_num(value: Any) -> str:
    """A figure for people: '0.912', '1,234,567', '0.0001'; '–' when missing."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:.3f}"

"""Run listing and comparison for `gradkit runs` (reads files only; no torch)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from gradkit.errors import CheckpointError


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def find_runs(root: str | Path) -> list[Path]:
    return sorted((p.parent for p in Path(root).glob("**/config.yaml")),
                  key=lambda p: p.stat().st_mtime, reverse=True)


def list_runs(root: str | Path) -> list[dict[str, str]]:
    """One row of display strings per run under `root`, newest first."""
    rows = []
    for path in find_runs(root):
        info, metrics = _read(path / "run.json"), _read(path / "metrics.json")
        row = {"run": str(path), "status": str(info.get("status", "?")),
               "epochs": str(info.get("epochs_completed", "")),
               "seconds": f"{info['train_seconds']:.1f}" if info.get("train_seconds") else ""}
        for key in ("test/accuracy", "test/f1_macro", "test/rmse"):
            row[key] = f"{metrics[key]:.4f}" if key in metrics else ""
        rows.append(row)
    return rows


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def compare_runs(run_dirs: list[str | Path]) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """(config keys that differ, metrics) as rows of one string per run."""
    configs, metrics = [], []
    for d in run_dirs:
        path = Path(d)
        if not (path / "config.yaml").is_file():
            raise CheckpointError(f"{path} is not a gradkit run directory (no config.yaml)")
        configs.append(_flatten(yaml.safe_load((path / "config.yaml").read_text()) or {}))
        metrics.append(_read(path / "metrics.json"))
    keys = sorted(set().union(*configs))
    diff = [(k, [str(c.get(k, "")) for c in configs]) for k in keys
            if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    mkeys = sorted(k for k in set().union(*metrics) if not k.endswith(("/seconds", "/train_rows")))
    rows = [(k, [f"{m[k]:.4f}" if k in m else "" for m in metrics]) for k in mkeys]
    return diff, rows

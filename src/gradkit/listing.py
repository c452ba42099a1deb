"""Run listing and comparison for `gradkit runs` (reads files only; no torch)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from gradkit.errors import CheckpointError


def _load(path: Path) -> dict[str, Any] | None:
    """A JSON object file: {} when absent, None when present but damaged (not UTF-8, not JSON,
    not an object, unreadable)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read(path: Path) -> dict[str, Any]:
    return _load(path) or {}


def _config(path: Path) -> dict[str, Any] | None:
    """A run's config.yaml as a mapping, None when it is damaged."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _damaged(path: Path, loaded: dict[str, dict[str, Any] | None]) -> list[str]:
    """The files of a run directory that are there but cannot be read (`loaded`: its JSON files
    as `_load` read them)."""
    bad = [name for name, data in loaded.items() if data is None]
    if _config(path / "config.yaml") is None:
        bad.insert(0, "config.yaml")
    history = path / "metrics.jsonl"
    if history.is_file():
        try:
            history.read_text(encoding="utf-8")
        except (OSError, ValueError):
            bad.append("metrics.jsonl")
    return bad


def _is_rl(info: dict[str, Any]) -> bool:
    spec = info.get("spec")
    return isinstance(spec, dict) and spec.get("task") == "rl"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def find_runs(root: str | Path) -> list[Path]:
    return sorted((p.parent for p in Path(root).glob("**/config.yaml")),
                  key=lambda p: p.stat().st_mtime, reverse=True)


KEYS = ("test/accuracy", "test/f1_macro", "test/rmse", "eval/best_mean_return")  # the last: RL runs


def list_runs(root: str | Path, seeds: bool = False) -> list[dict[str, str]]:
    """One row of display strings per run under `root`, newest first; with `seeds`, also a row
    per variant of every parent trained over several seeds: mean ± sd of its seeds."""
    rows = _seed_rows(root) if seeds else []
    for path in find_runs(root):
        loaded = {name: _load(path / name) for name in ("run.json", "metrics.json")}
        info, metrics = loaded["run.json"] or {}, loaded["metrics.json"] or {}
        bad = _damaged(path, loaded)
        seconds = info.get("train_seconds")
        row = {"run": str(path),
               "status": f"damaged: {', '.join(bad)}" if bad else str(info.get("status", "?")),
               # an RL run counts environment steps, not epochs
               "epochs": (f"{info['steps']:,} steps" if _is_rl(info) and isinstance(info.get("steps"), int)
                          else str(info.get("epochs_completed", "") or "")),
               "seconds": f"{seconds:.1f}" if _number(seconds) else ""}
        for key in KEYS:
            row[key] = _number(metrics.get(key))
        rows.append(row)
    return rows


def _seed_rows(root: str | Path) -> list[dict[str, str]]:
    """Parents with summary.json (gradkit/variants.py): one row per variant, mean ± sd."""
    rows = []
    for summary in sorted(Path(root).glob("**/summary.json"), key=lambda p: p.stat().st_mtime,
                          reverse=True):
        for name, stats in _read(summary).get("variants", {}).items():
            n = max((s.get("n", 0) for s in stats.values()), default=0)
            row = {"run": f"{summary.parent} [{name}]", "status": f"{n} seeds", "epochs": "",
                   "seconds": ""}
            for key in KEYS:
                s = stats.get(key) or {}
                row[key] = (f"{s['mean']:.4f} ± {s['sd']:.4f}" if s.get("sd") is not None
                            else f"{s['mean']:.4f}" if s.get("mean") is not None else "")
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


def compare_runs(run_dirs: list[str | Path]
                 ) -> tuple[list[str], list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """(column names, config keys that differ, metrics) as rows of one string per column. A run
    directory is one column; a parent trained over seeds (summary.json) one column per variant,
    its metrics as mean ± sd over the seeds."""
    names, configs, metrics = [], [], []
    for d in run_dirs:
        path = Path(d)
        if (path / "summary.json").is_file() and (path / "comparison.json").is_file():
            for name, config, values in _seed_columns(path):
                names.append(f"{path.name} [{name}]")
                configs.append(config)
                metrics.append(values)
            continue
        if not (path / "config.yaml").is_file():
            raise CheckpointError(f"{path} is not a gradkit run directory (no config.yaml), nor "
                                  "a parent of runs over seeds (no summary.json)")
        config = _config(path / "config.yaml")
        if config is None:
            raise CheckpointError(f"{path / 'config.yaml'} is damaged (not a YAML mapping, or not "
                                  "UTF-8): this run cannot be compared; leave it out")
        names.append(path.name)
        configs.append(_flatten(config))
        metrics.append({k: f"{v:.4f}" for k, v in _read(path / "metrics.json").items()
                        if isinstance(v, (int, float))})
    keys = sorted(set().union(*configs))
    diff = [(k, [str(c.get(k, "")) for c in configs]) for k in keys
            if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    mkeys = sorted(k for k in set().union(*metrics) if not k.endswith(("/seconds", "/train_rows")))
    rows = [(k, [m.get(k, "") for m in metrics]) for k in mkeys]
    return names, diff, rows


def _seed_columns(parent: Path) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(variant, its first cell's config without the seed, mean ± sd per metric) of a parent."""
    summary = _read(parent / "summary.json")
    cells = _read(parent / "comparison.json").get("cells", {})
    out = []
    for name, stats in summary.get("variants", {}).items():
        first = next(iter(cells.get(name, {}).values()), None)
        config = {}
        if first and (parent / first / "config.yaml").is_file():
            config = _flatten(_config(parent / first / "config.yaml") or {})
            config.pop("seed", None)
            config.pop("output.run_dir", None)
        values = {k: (f"{s['mean']:.4f} ± {s['sd']:.4f}" if s.get("sd") is not None else f"{s['mean']:.4f}")
                  for k, s in stats.items() if isinstance(s, dict) and s.get("mean") is not None}
        out.append((name, config, values))
    return out

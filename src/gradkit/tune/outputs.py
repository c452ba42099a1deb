"""What a study leaves in its directory: trials.json, best.yaml and report.html."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from gradkit.engine import resolve
from gradkit.errors import GradkitError
from gradkit.rundir import atomic_write
from gradkit.tune import space as S
from gradkit.tune.settings import TuneResult, open_study


def write_outputs(study_dir: Path, settings, dims: list[S.Dimension], verbose: bool):
    """trials.json, best.yaml (when a trial completed) and report.html; returns a TuneResult."""
    study = open_study(study_dir, settings)
    rows = trial_rows(study, dims)
    atomic_write(study_dir / "trials.json", json.dumps(rows, indent=2) + "\n")
    counts = {state: sum(r["state"] == state for r in rows)
              for state in ("complete", "pruned", "fail")}
    result = TuneResult(study_dir, settings.metric, settings.direction, counts)
    complete = [r for r in rows if r["state"] == "complete"]
    if complete:
        best = study.best_trial
        result.best_trial, result.best_value = best.number, best.value
        result.best_values = {d.key: d.value(best.params[d.key]) for d in dims}
        result.best_yaml = write_best(study_dir, settings, result, len(rows))
    elif rows and all(r["state"] == "fail" for r in rows):
        first = next((r["error"] for r in rows if r.get("error")), "see the trials' run.json")
        raise GradkitError(f"every trial failed; the first error: {first}")
    try:
        from gradkit.tune.report import build_report

        result.report = build_report(study_dir, study, rows, settings, dims, result)
    except Exception as exc:  # a report problem must not lose a finished study
        print(f"gradkit: the study report could not be built ({type(exc).__name__}: {exc})", flush=True)
    if verbose:
        _summary(result, settings)
    return result


def trial_rows(study, dims: list[S.Dimension]) -> list[dict[str, Any]]:
    """One plain record per trial, oldest first."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        # a pruned trial's value is only its last epoch's: the report shows complete ones' scores
        done = t.state.name == "COMPLETE" and t.value is not None and math.isfinite(t.value)
        value = t.value if done else None
        seconds = t.duration.total_seconds() if t.duration else None
        rows.append({
            "number": t.number, "state": t.state.name.lower(), "value": value,
            "values": {d.key: d.value(t.params[d.key]) for d in dims if d.key in t.params},
            "epochs": len(t.intermediate_values), "run_dir": t.user_attrs.get("run_dir"),
            "seconds": seconds, "error": t.user_attrs.get("error"),
            "interrupted": bool(t.user_attrs.get("interrupted")),
            "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
            # with --seeds: each seed's value, and the seeds that never solved (at their budget)
            **({"seed_values": t.user_attrs["seed_values"],
                "unsolved_seeds": t.user_attrs.get("unsolved_seeds", [])}
               if "seed_values" in t.user_attrs else {}),
        })
    return rows


def write_best(study_dir: Path, settings, result, n_trials: int) -> Path:
    """best.yaml: the recipe with the best values, runnable as `gradkit train -c best.yaml`."""
    raw = settings.recipe_raw(result.best_values)
    header = (f"# gradkit tune: the best of {n_trials} trials in {study_dir}: trial "
              f"{result.best_trial}, {settings.score_name()} {result.best_value:.6g}\n"
              f"# train it: gradkit train -c {study_dir / 'best.yaml'}\n")
    path = study_dir / "best.yaml"
    atomic_write(path, header + yaml.safe_dump(raw, sort_keys=False))
    resolve(None, path)  # what we promise: it loads as a recipe file
    return path


def _summary(r, settings) -> None:
    counts = ", ".join(f"{n} {state}" for state, n in r.counts.items() if n)
    print(f"gradkit: study {r.dir}: {counts}", flush=True)
    if r.best_trial is not None:
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in r.best_values.items())
        print(f"gradkit: best trial {r.best_trial}: {settings.score_name()} {r.best_value:.4g} "
              f"with {shown}",
              flush=True)
        print(f"gradkit: train it: gradkit train -c {r.best_yaml}", flush=True)
    if r.report is not None:
        print(f"gradkit: report {r.report}", flush=True)

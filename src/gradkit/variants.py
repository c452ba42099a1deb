"""One recipe, several variants: each trains as its own run, then one report compares them.

A recipe with `variants:` (e.g. `adding-rnn-vs-lstm`) names each variant's overrides of the
recipe's config; `config.resolve_runs` validates every variant before anything trains. The
variants then train one after the other, each an ordinary run directory (`gradkit runs`,
`gradkit report`, `--resume` and `gk.load` treat it like any other), under one parent:

    runs/<recipe>/<YYYYmmdd-HHMMSS>-s<seed>/
      recipe.yaml        the resolved recipe, variants included (not `config.yaml`: the
                         parent is not itself a run, so `gradkit runs` does not list it)
      comparison.json    the variants in order, their run directories, the status
      report.html        overlaid learning curves against the baselines, a table of results
      <variant>/         one complete run directory per variant
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gradkit import config as C
from gradkit.rundir import RunDir, stamp, unique_dir


def parent_dir(cfg: C.RunConfig) -> Path:
    """`output.run_dir` when given (`--out`), else a fresh `<output.dir>/<name>/<stamp>-s<seed>`."""
    if cfg.output.run_dir:
        path = Path(cfg.output.run_dir)
        if (path / "comparison.json").exists() or (path / "config.yaml").exists():
            from gradkit.errors import CheckpointError

            raise CheckpointError(f"{path} already holds runs; choose another --out")
        return path
    return unique_dir(Path(cfg.output.dir) / cfg.name, f"{stamp()}-s{cfg.seed}")


def train_variants(cfg: C.RunConfig, runs: dict[str, C.RunConfig],
                   run: Callable[..., Any] | None = None, verbose: bool = True) -> dict[str, Any]:
    """Train each variant in order under one parent directory; write the comparison report.

    `run(cfg, verbose=...)` trains one variant (default: `gradkit.engine.execute`; the API's
    also runs federated ones). Returns {variant name: `Run`}, in the recipe's order.
    """
    if run is None:
        from gradkit.engine import execute as run

    parent = RunDir(parent_dir(cfg))
    parent.write_text("recipe.yaml", C.dump(cfg))
    info: dict[str, Any] = {"name": cfg.name, "description": cfg.description, "status": "running",
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                            "variants": {name: name for name in runs}}  # name -> run directory
    parent.write_json("comparison.json", info)
    done: dict[str, Any] = {}
    try:
        for name, run_cfg in runs.items():
            if verbose:
                print(f"gradkit: variant {name} ({len(done) + 1} of {len(runs)})", flush=True)
            run_cfg = run_cfg.model_copy(deep=True)
            run_cfg.output.run_dir = str(parent.path / name)
            done[name] = run(run_cfg, verbose=verbose)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        parent.write_json("comparison.json", {**info, "status": status,
                                              "error": f"{type(exc).__name__}: {exc}"})
        raise
    parent.write_json("comparison.json", {**info, "status": "completed",
                                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if cfg.output.report:
        _report(parent.path, verbose)
    return done


def _report(path: Path, verbose: bool) -> None:
    from gradkit.report.compare import build_comparison

    try:
        out = build_comparison(path)
    except Exception as exc:  # a report problem must not lose finished runs
        print(f"gradkit: the comparison report could not be built ({type(exc).__name__}: {exc}); "
              f"`gradkit report {path}` retries", flush=True)
        return
    if verbose:
        print(f"gradkit: comparison report {out}", flush=True)

"""One recipe, several runs: its variants, its seeds, or both; each trains as its own run, then
one report compares them.

A recipe with `variants:` (e.g. `adding-rnn-vs-lstm`) names each variant's overrides of the
recipe's config; `engine.resolve_runs` validates every variant before anything trains. A recipe
with `seeds:` (`--seeds N`, `gk.train(..., seeds=N)`: the seeds seed, seed+1, ..., or a list)
trains every variant (or the recipe itself) once per seed. Each cell is an ordinary run
directory (`gradkit runs`, `gradkit report`, `--resume` and `gk.load` treat it like any other),
under one parent:

    runs/<recipe>/<YYYYmmdd-HHMMSS>-s<seed>/
      recipe.yaml        the resolved recipe, variants and seeds included (not `config.yaml`:
                         the parent is not itself a run, so `gradkit runs` does not list it)
      comparison.json    the variants in order, their run directories (`cells` with seeds), the status
      summary.json       with seeds: per variant and metric the mean, sd, 95% CI, min, max and
                         per-seed values; each variant against the first, with a verdict
      report.html        curves (with seeds: mean ± sd bands), the results, the verdicts
      <variant>/         a run directory per variant; with seeds <variant>/s<seed>/ (s<seed>/
                         without variants)
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


def seed_list(cfg: C.RunConfig) -> list[int] | None:
    """The seeds `cfg.seeds` asks for: N -> seed, seed+1, ..., seed+N-1; a list as it is."""
    if cfg.seeds is None:
        return None
    return list(range(cfg.seed, cfg.seed + cfg.seeds)) if isinstance(cfg.seeds, int) else list(cfg.seeds)


def train_variants(cfg: C.RunConfig, runs: dict[str, C.RunConfig],
                   run: Callable[..., Any] | None = None, verbose: bool = True) -> dict[str, Any]:
    """Train every cell in order under one parent directory; write the comparison report.

    `run(cfg, verbose=...)` trains one cell (default: `gradkit.engine.execute`; the API's also
    runs federated ones). Returns {variant: Run}; with seeds {variant: {seed: Run}}, and
    {seed: Run} for a recipe without variants.
    """
    if run is None:
        from gradkit.engine import execute as run

    seeds = seed_list(cfg)
    groups = runs or {cfg.name: cfg}
    cells = {name: ({seed: (f"{name}/s{seed}" if runs else f"s{seed}") for seed in seeds} if seeds
                    else {None: name}) for name in groups}
    parent = RunDir(parent_dir(cfg))
    parent.write_text("recipe.yaml", C.dump(cfg))
    info: dict[str, Any] = {"name": cfg.name, "description": cfg.description, "status": "running",
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                            "variants": {name: name if runs else "." for name in groups}}
    if cfg.lesson is not None:
        info["lesson"] = cfg.lesson.model_dump(mode="json")
    if seeds:
        info["seeds"] = seeds
        info["cells"] = {name: {str(s): sub for s, sub in by_seed.items()} for name, by_seed in cells.items()}
    parent.write_json("comparison.json", info)
    done: dict[str, Any] = {}
    total, count = sum(len(c) for c in cells.values()), 0
    from gradkit.engine.builder import sharing_data

    try:
        with sharing_data():  # the children load and split their data set once per seed
            for name, by_seed in cells.items():
                for seed, sub in by_seed.items():
                    count += 1
                    if verbose:
                        what = " ".join(filter(None, [f"variant {name}" if runs else "",
                                                      f"seed {seed}" if seed is not None else ""]))
                        print(f"gradkit: {what} ({count} of {total})", flush=True)
                    update = {"seeds": None, **({"seed": seed} if seed is not None else {})}
                    cell = groups[name].model_copy(update=update, deep=True)
                    cell.output.run_dir = str(parent.path / sub)
                    result = run(cell, verbose=verbose)
                    if seed is None:
                        done[name] = result
                    else:
                        done.setdefault(name, {})[seed] = result
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        parent.write_json("comparison.json", {**info, "status": status,
                                              "error": f"{type(exc).__name__}: {exc}"})
        raise
    parent.write_json("comparison.json", {**info, "status": "completed",
                                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if seeds:
        from gradkit.report.seeds import summary

        parent.write_json("summary.json", summary(parent.path))
    if cfg.output.report:
        _report(parent.path, verbose)
    return done if runs or not seeds else done[cfg.name]


def _report(path: Path, verbose: bool) -> None:
    from gradkit.report.compare import build_comparison

    try:
        build_comparison(path)
    except Exception as exc:  # a report problem must not lose finished runs
        print(f"gradkit: the comparison report could not be built ({type(exc).__name__}: {exc}); "
              f"`gradkit report {path}` retries", flush=True)
        return
    if verbose:
        print(f"gradkit: comparison report {path / 'report.html'}", flush=True)

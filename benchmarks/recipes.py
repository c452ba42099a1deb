"""Every shipped recipe, as shipped, once: the test figure it reaches here and how long it trains.

This is where the `reaches:` line of each recipe (and so docs/recipes.md) gets its number.
Recipes whose data is not on this machine (and cannot be downloaded) are listed as skipped,
with the reason, rather than left out.

    python benchmarks/recipes.py                      # all recipes, writes results/recipes.json
    python benchmarks/recipes.py digits-cnn iris-mlp  # some of them
    python benchmarks/recipes.py --quick              # 1 epoch each, written to /tmp
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train each shipped recipe once with its own defaults and record its main "
                    "test metric, training seconds and epochs; recipes whose data is missing "
                    "offline are recorded as skipped with the reason.",
        epilog="Run it from the repo root on an otherwise idle machine.")
    parser.add_argument("recipes", nargs="*", help="recipe names (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 epoch each, result written to /tmp unless --out is given")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/recipes.json)")
    return parser.parse_args(argv)


def headline(metrics: dict[str, float]) -> tuple[str, float]:
    """The figure a reader looks for: test accuracy for classifiers, R² for regression, MASE for
    a forecast, bits per character for a language model, FID for a GAN or VAE (negative ELBO
    when FID is off), MSE per pixel for an autoencoder."""
    for key in ("test/accuracy", "test/r2", "test/mase", "test/bits_per_char", "test/fid",
                "test/nelbo", "test/mse"):
        if key in metrics:
            return key, metrics[key]
    raise KeyError(f"no headline metric among {sorted(metrics)}")


def run_recipe(name: str, quick: bool, workdir: Path) -> dict[str, Any]:
    import gradkit as gk
    from gradkit.errors import DataError

    overrides = {"train": {"epochs": 1}} if quick else {}
    start = time.perf_counter()
    try:
        run = gk.train(name, out=workdir / name, verbose=False, output={"report": False}, **overrides)
    except DataError as exc:
        return {"recipe": name, "skipped": str(exc).splitlines()[0]}
    if isinstance(run, dict):  # variants and/or seeds: one parent, its summary per variant
        return parent_row(name, workdir / name, time.perf_counter() - start)
    info = json.loads((run.dir / "run.json").read_text())
    key, value = headline(run.metrics)
    return {"recipe": name, "metric": key, "value": value, "train_seconds": info["train_seconds"],
            "wall_seconds": time.perf_counter() - start, "epochs": info["epochs_completed"],
            "precision": info.get("precision"), "metrics": run.metrics}


def parent_row(name: str, parent: Path, wall: float) -> dict[str, Any]:
    """A recipe of several runs: each variant's headline metric over its seeds (mean, sd, n)
    and its training seconds summed over the cells."""
    info = json.loads((parent / "comparison.json").read_text())
    cells = info.get("cells") or {v: {"": sub} for v, sub in info["variants"].items()}
    variants = {}
    for variant, by_seed in cells.items():
        runs = [parent / sub for sub in by_seed.values()]
        finals = [json.loads((r / "metrics.json").read_text()) for r in runs]
        key = headline(finals[0])[0]
        values = [float(f[key]) for f in finals]
        seconds = [json.loads((r / "run.json").read_text())["train_seconds"] for r in runs]
        variants[variant] = {"metric": key, "values": values, "mean": sum(values) / len(values),
                             "sd": (sum((v - sum(values) / len(values)) ** 2 for v in values)
                                    / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0,
                             "train_seconds": seconds}
    first = next(iter(variants.values()))
    return {"recipe": name, "metric": first["metric"], "value": first["mean"], "variants": variants,
            "train_seconds": sum(sum(v["train_seconds"]) for v in variants.values()),
            "wall_seconds": wall, "epochs": None}


def print_summary(result: dict[str, Any]) -> None:
    for r in result["recipes"]:
        if "skipped" in r:
            print(f"  {r['recipe']:<20} skipped: {r['skipped']}")
        else:
            print(f"  {r['recipe']:<20} {r['metric']} {r['value']:.4f}  "
                  f"{r['epochs']} epochs in {r['train_seconds']:.1f} s")
            for variant, v in r.get("variants", {}).items():
                print(f"      {variant:<16} {v['mean']:.4f} ± {v['sd']:.4f} (n={len(v['values'])})")


def main(argv: list[str] | None = None) -> int:
    from gradkit.config import recipe_names

    args = parse_args(argv)
    names = args.recipes or recipe_names()
    out = _bench.output_path(args.out, "recipes", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        rows = []
        for name in names:
            rows.append(run_recipe(name, args.quick, Path(tmp)))
            print(f"  done {name}", flush=True)
    result = {"benchmark": "recipes", "date": _bench.now(), "quick": args.quick,
              "machine": _bench.machine(), "conditions": _bench.conditions(quiet, start),
              "recipes": rows, "targets": {}}
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The sunspots recipes against the naive forecasts: test MASE of each, and training seconds.

Each `sunspots-*` recipe must beat both persistence (the last value repeated) and
seasonal-naive (the value one 11-year cycle earlier) on the same test windows; this records by
how much, and is where the recipes' `reaches:` lines get their figures.

    python benchmarks/series.py            # writes results/series.json
    python benchmarks/series.py --quick    # 1 epoch each, written to /tmp
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

RECIPES = ("sunspots-rnn", "sunspots-gru", "sunspots-lstm")
BASELINES = ("persistence", "seasonal-naive")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the sunspots forecasting recipes as shipped and compare their test "
                    "MASE with persistence and seasonal-naive on the same test windows.",
        epilog="Run it from the repo root on an otherwise idle machine.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 epoch each, result written to /tmp unless --out is given")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/series.json)")
    return parser.parse_args(argv)


def run_recipe(name: str, quick: bool, workdir: Path) -> dict[str, Any]:
    import gradkit as gk

    overrides = {"train": {"epochs": 1}} if quick else {}
    start = time.perf_counter()
    run = gk.train(name, out=workdir / name, verbose=False, output={"report": False}, **overrides)
    info = json.loads((run.dir / "run.json").read_text())
    m = run.metrics
    row = {"recipe": name, "test_mase": m["test/mase"], "test_mae": m["test/mae"],
           "test_rmse": m["test/rmse"], "train_seconds": info["train_seconds"],
           "wall_seconds": time.perf_counter() - start, "epochs": info["epochs_completed"],
           "best_epoch": info["best_epoch"]}
    for base in BASELINES:
        row[f"{base}_mase"] = m[f"baseline/{base}/mase"]
    return row


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for row in rows:
        ok = all(row["test_mase"] < row[f"{b}_mase"] for b in BASELINES)
        out[row["recipe"]] = {"target": "test MASE below persistence and seasonal-naive", "pass": ok}
    return out


def print_summary(result: dict[str, Any]) -> None:
    for r in result["recipes"]:
        print(f"  {r['recipe']:<15} test MASE {r['test_mase']:.3f} (persistence "
              f"{r['persistence_mase']:.3f}, seasonal-naive {r['seasonal-naive_mase']:.3f}), "
              f"{r['epochs']} epochs in {r['train_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = _bench.output_path(args.out, "series", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        rows = [run_recipe(name, args.quick, Path(tmp)) for name in RECIPES]
    result = {"benchmark": "series", "date": _bench.now(), "quick": args.quick,
              "machine": _bench.machine(), "conditions": _bench.conditions(quiet, start),
              "recipes": rows, "targets": targets(rows)}
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

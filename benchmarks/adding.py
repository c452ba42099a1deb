"""The adding problem at 100 steps: vanilla RNN vs LSTM against predicting the mean (MSE 1/6).

Trains the `adding-rnn-vs-lstm` recipe as shipped (both variants) and records each variant's
test MSE, best epoch and training seconds beside the predict-the-mean baseline on the same
test sequences. The target is the LSTM's: well under the baseline (a fifth of it or less).
The RNN has no target; its figure is recorded as it comes (the vanishing-gradient claim is
that it stays near the baseline). This is where the recipe's `reaches:` line comes from.

    python benchmarks/adding.py            # writes results/adding.json
    python benchmarks/adding.py --quick    # 1 epoch each, written to /tmp
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

RECIPE = "adding-rnn-vs-lstm"
LSTM_TARGET = 0.2  # LSTM test MSE below this share of the predict-the-mean baseline's


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train adding-rnn-vs-lstm as shipped and compare each variant's test MSE "
                    "with predicting the mean.",
        epilog="Run it from the repo root on an otherwise idle machine.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 epoch each, result written to /tmp unless --out is given")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/adding.json)")
    return parser.parse_args(argv)


def variant_row(name: str, run: Any) -> dict[str, Any]:
    info = json.loads((run.dir / "run.json").read_text())
    m = run.metrics
    return {"variant": name, "model": run.config.model["name"], "test_mse": m["test/mse"],
            "test_r2": m["test/r2"], "baseline_mean_mse": m["baseline/mean/mse"],
            "baseline_linear_mse": m["baseline/linear/mse"], "epochs": info["epochs_completed"],
            "best_epoch": info["best_epoch"], "train_seconds": info["train_seconds"],
            "n_params": info["n_params"]}


def print_summary(result: dict[str, Any]) -> None:
    for r in result["variants"]:
        print(f"  {r['variant']:<5} test MSE {r['test_mse']:.4f} vs predict-the-mean "
              f"{r['baseline_mean_mse']:.4f}, best epoch {r['best_epoch']} of {r['epochs']}, "
              f"{r['train_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    import gradkit as gk

    args = parse_args(argv)
    out = _bench.output_path(args.out, "adding", args.quick)
    overrides = {"train": {"epochs": 1}} if args.quick else {}
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        wall = time.perf_counter()
        runs = gk.train(RECIPE, out=Path(tmp) / RECIPE, verbose=False, **overrides)
        wall = time.perf_counter() - wall
        rows = [variant_row(name, run) for name, run in runs.items()]
        length = runs["lstm"].config.data.length
    lstm = next(r for r in rows if r["variant"] == "lstm")
    target = {"target": f"LSTM test MSE < {LSTM_TARGET:g} x predict-the-mean",
              "pass": lstm["test_mse"] < LSTM_TARGET * lstm["baseline_mean_mse"]}
    result = {"benchmark": "adding", "date": _bench.now(), "quick": args.quick, "recipe": RECIPE,
              "length": length, "trivial_mse": 1 / 6, "wall_seconds": wall,
              "machine": _bench.machine(), "conditions": _bench.conditions(quiet, start),
              "variants": rows, "targets": {"lstm": target}}
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

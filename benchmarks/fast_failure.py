"""How fast gradkit answers when there is nothing to train: help, listings and config mistakes.

Each command runs as a whole `gradkit` process (interpreter start included), five times; the
median wall time is recorded. The config-mistake cases must answer within 1 s: they are checked
against the schema, the built-in names (gradkit.config.catalog) and the data paths before torch
is imported (gradkit.cli.train.preflight).

    python benchmarks/fast_failure.py          # writes results/fast_failure.json
    python benchmarks/fast_failure.py --quick  # 2 repeats, to /tmp
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench

TARGET = 1.0  # seconds, for the config-mistake cases


def fake_runs(root: Path, n: int = 100) -> None:
    """`n` finished-looking run directories, as `gradkit runs` finds and lists them."""
    for i in range(n):
        run = root / "digits-mlp" / f"20261206-1200{i:02d}-s{i}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(f"name: digits-mlp\nseed: {i}\n")
        (run / "run.json").write_text(json.dumps({"status": "completed", "epochs_completed": 5,
                                                  "train_seconds": 4.2}))
        (run / "metrics.json").write_text(json.dumps({"test/accuracy": 0.95 + i / 10000}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wall time of gradkit commands that train nothing.")
    parser.add_argument("--quick", action="store_true", help="2 repeats, written to /tmp")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/fast_failure.json)")
    args = parser.parse_args(argv)
    out = _bench.output_path(args.out, "fast_failure", args.quick)
    repeats = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        fake_runs(Path(tmp) / "runs")
        cases = [  # (name, arguments, is a config mistake, expected exit code)
            ("--help", ["--help"], False, 0),
            ("recipes", ["recipes"], False, 0),
            ("runs over 100 runs", ["runs", "--root", str(Path(tmp) / "runs")], False, 0),
            ("a bad key (train.epoch=3)", ["train", "fashion-mlp", "train.epoch=3"], True, 2),
            ("an unknown recipe", ["train", "fashoin-mlp"], True, 2),
            ("a missing CSV file", ["train", "iris-mlp", "data.name=csv", "data.path=/nowhere/x.csv",
                                    "data.target=y"], True, 2),
            ("a wrong type (train.epochs=ten)", ["train", "digits-mlp", "train.epochs=ten"], True, 2),
            ("an unknown model (model.name=mpl)", ["train", "digits-mlp", "model.name=mpl"], True, 2),
            ("a model key typo (model.hiden=[8])", ["train", "digits-mlp", "model.hiden=[8]"], True, 2),
            ("an unknown data set (data.name=digit)", ["train", "digits-mlp", "data.name=digit"], True, 2),
            ("an RL key typo (rl.n_step=64)", ["train", "cartpole-ppo", "rl.n_step=64"], True, 2),
            ("a model option's type (model.hidden=abc)", ["train", "digits-mlp", "model.hidden=abc"], True, 2),
        ]
        quiet, start = _bench.idle_check(), _bench.cpu_counters()
        rows = []
        for name, cli, mistake, code in cases:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "gradkit", *cli], capture_output=True)
                times.append(time.perf_counter() - t0)
                if done.returncode != code:
                    raise SystemExit(f"{name}: exit {done.returncode}, expected {code}: "
                                     f"{done.stdout.decode()[-500:]}")
            rows.append({"case": name, "command": "gradkit " + " ".join(cli[:1] + ["..."] if len(cli) > 3 else cli),
                         "config_mistake": mistake, "median_s": round(statistics.median(times), 3),
                         "max_s": round(max(times), 3)})
            print(f"  {name:<34} {statistics.median(times):.2f} s", flush=True)
    targets = {r["case"]: {"target": f"< {TARGET} s", "value": r["median_s"], "pass": r["median_s"] < TARGET}
               for r in rows if r["config_mistake"]}
    result = {"benchmark": "fast_failure", "date": _bench.now(), "quick": args.quick,
              "machine": _bench.machine(), "conditions": _bench.conditions(quiet, start),
              "repeats": repeats, "cases": rows, "targets": targets}
    _bench.finish(result, out, lambda r: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

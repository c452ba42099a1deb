"""What the end-of-run explanations cost: seconds added to a classification run.

Each recipe trains in a fresh Python process (so Captum's import is counted, as in a real
run), with the explanations timed as they run at the end (`write_explanations`: import,
integrated gradients on 8 test examples, figures, files) and the report's Explanations
section timed as it is built. wordnet-lstm trains 1 epoch instead of 6: the explanation's
cost does not depend on how long the model trained.

    python benchmarks/explain.py            # writes results/explain.json
    python benchmarks/explain.py --quick    # digits-cnn and iris-mlp only, written to /tmp
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

RECIPES = {"digits-cnn": [], "fashion-mlp": [], "iris-mlp": [], "wordnet-lstm": ["train.epochs=1"]}
QUICK = ("digits-cnn", "iris-mlp")
TARGET_SECONDS = 2.0  # what the explanations may add to a run, report included


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Seconds the end-of-run explanations (and the "
                                                 "report's Explanations section) add to "
                                                 "classification runs.")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}; to /tmp")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/explain.json)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--dir", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def one(recipe: str, workdir: Path) -> dict[str, Any]:
    """Train `recipe` here and time its explanations; runs in a child process."""
    import gradkit as gk
    import gradkit.explain
    from gradkit.report import explanations as section
    from gradkit.report.rundir import load_run

    timed: dict[str, float] = {}
    write = gradkit.explain.write_explanations

    def timed_write(*args, **kwargs):
        start = time.perf_counter()
        write(*args, **kwargs)
        timed["explain_seconds"] = time.perf_counter() - start

    gradkit.explain.write_explanations = timed_write  # api imports it from here at the call
    start = time.perf_counter()
    run = gk.train(recipe, out=workdir / recipe, verbose=False, overrides=RECIPES[recipe])
    wall = time.perf_counter() - start
    start = time.perf_counter()
    html = section.explanations(load_run(run.dir))
    timed["section_seconds"] = time.perf_counter() - start
    summary = json.loads((run.dir / "artifacts/explanations/integrated-gradients.json").read_text())
    info = json.loads((run.dir / "run.json").read_text())
    return {"recipe": recipe, "overrides": RECIPES[recipe], "wall_seconds": wall,
            "train_seconds": info["train_seconds"], "attribution_seconds": summary["seconds"],
            "examples": len(summary["examples"]), "section_bytes": len(html),
            "test_accuracy": run.metrics.get("test/accuracy"), **timed}


def child(recipe: str, workdir: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--one", recipe, "--dir", str(workdir)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_summary(result: dict[str, Any]) -> None:
    for r in result["runs"]:
        print(f"  {r['recipe']:<14} explanations {r['explain_seconds']:5.2f} s (attributions "
              f"{r['attribution_seconds']:.2f} s) + report section {r['section_seconds']:.2f} s; "
              f"run {r['wall_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, Path(args.dir))))
        return 0
    out = _bench.output_path(args.out, "explain", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        runs = []
        for recipe in QUICK if args.quick else RECIPES:
            runs.append(child(recipe, Path(tmp)))
            print(f"  done {recipe}: {runs[-1]['explain_seconds']:.2f} s", flush=True)
    targets = {f"{r['recipe']}_adds_little": {
        "target": f"explanations + report section add <= {TARGET_SECONDS:g} s to {r['recipe']}",
        "value": r["explain_seconds"] + r["section_seconds"],
        "pass": r["explain_seconds"] + r["section_seconds"] <= TARGET_SECONDS} for r in runs}
    result = {"benchmark": "explain", "date": _bench.now(), "quick": args.quick,
              "machine": _bench.machine(), "conditions": _bench.conditions(quiet, start),
              "runs": runs, "targets": targets,
              "notes": ["explain_seconds: the whole end-of-run step in a fresh process (Captum's "
                        "import, integrated gradients with 32 steps on 8 test examples, figures, "
                        "files); attribution_seconds: the attributions alone; section_seconds: "
                        "the report's Explanations section."]}
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every lesson recipe (`gradkit lessons`), as shipped: its variants over its seeds, the verdict.

Each lesson's summary.json (per variant and metric the mean, sd, 95% CI and per-seed values;
each check's difference, Welch CI and result; the claim's verdict) is copied with the machine
facts to results/lessons/<recipe>.json, and docs/lessons.md is regenerated from those files.
The recipes' `reaches:` lines quote these files. Run it alone on the machine: the lessons that
compare seconds (batch size, transformer vs LSTM, the equal-time CNN/MLP/LSTM budget) are
meaningless on a busy one.

    python benchmarks/lessons.py                          # all lessons (about 1.5 hours on 2 cores)
    python benchmarks/lessons.py lesson-optimizers        # some of them
    python benchmarks/lessons.py --quick                  # 1 epoch, 2 seeds, 2,000 images: to /tmp
    python benchmarks/lessons.py --keep DIR               # and keep the runs
    python benchmarks/lessons.py --resummarize DIR        # recompute the summaries from kept runs
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _bench

ROOT = Path(__file__).resolve().parents[1]
OUT = _bench.RESULTS_DIR / "lessons"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run lesson recipes and record their verdicts.")
    parser.add_argument("lessons", nargs="*", help="lesson recipe names (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 epoch, 2 seeds, data.limit=2000; nothing recorded")
    parser.add_argument("--keep", default=None, help="keep the run directories under this folder")
    parser.add_argument("--resummarize", default=None, metavar="DIR",
                        help="train nothing: recompute each recorded lesson's summary from the runs "
                             "kept under DIR by an earlier --keep DIR (after a fix to the "
                             "statistics), keeping its measured/conditions facts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import gradkit as gk
    from gradkit.lessons import lesson_names, lessons_markdown

    names = args.lessons or lesson_names()
    if args.resummarize:
        from gradkit.report.seeds import summary

        for name in names:
            recorded = OUT / f"{name}.json"
            if not recorded.is_file() or not (Path(args.resummarize) / name / "comparison.json").is_file():
                print(f"== {name}: no recorded result or kept runs; skipped", flush=True)
                continue
            old = json.loads(recorded.read_text())
            new = {**summary(Path(args.resummarize) / name),
                   **{k: old[k] for k in ("measured", "conditions") if k in old}}
            _bench.write_json(recorded, new)
            print(f"== {name}: {new['lesson']['verdict']}", flush=True)
        _bench.write_text(ROOT / "docs" / "lessons.md", lessons_markdown(OUT))
        return 0
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gradkit-lessons-"))
    for name in names:
        quiet = _bench.idle_check()
        start = _bench.cpu_counters()
        t0 = time.perf_counter()
        overrides = ["train.epochs=1", "seeds=2", "data.limit=2000"] if args.quick else []
        if args.quick and name == "lesson-transformer-vs-lstm":
            overrides.remove("data.limit=2000")
        parent = work / name
        if parent.exists():
            shutil.rmtree(parent)
        print(f"== {name}", flush=True)
        gk.train(name, overrides=overrides, out=parent, verbose=False)
        summary = json.loads((parent / "summary.json").read_text())
        summary["measured"] = (f"{_bench.now()[:10]}, {_bench.cpu_model()} "
                               f"({', '.join(_bench.cpu_flags())}), {_bench.machine()['cpu_count']} cores, "
                               f"{time.perf_counter() - t0:.0f} s for the whole lesson")
        summary["conditions"] = _bench.conditions(quiet, start)
        print(f"   {summary['lesson']['verdict']}  ({time.perf_counter() - t0:.0f} s)", flush=True)
        for check in summary["lesson"]["checks"]:
            from gradkit.report.lessons import sentence

            print(f"   {sentence(check)}", flush=True)
        if summary["conditions"]["busy_warning"]:
            print(f"   WARNING: {summary['conditions']['busy_warning']}", flush=True)
        if not args.quick:
            _bench.write_json(OUT / f"{name}.json", summary)
    if not args.quick:
        _bench.write_text(ROOT / "docs" / "lessons.md", lessons_markdown(OUT))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

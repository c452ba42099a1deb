"""One self-contained HTML report per run: `build_report(run_dir) -> run_dir/report.html`.

Reads only the files a run writes (config.yaml, run.json, env.json, metrics.jsonl,
metrics.json, artifacts/); it never imports torch, so a report can be rebuilt anywhere.
"""
from gradkit.report.build import build_report

__all__ = ["build_report"]

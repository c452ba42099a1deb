"""The body of `gradkit explain` (gradkit/cli_tools.py holds only its arguments)."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from gradkit.explain import explain
from gradkit.explain.render import completeness_line


def run(run_dir: Path, method: str, n: int, steps: int, data_dir: str | None,
        console: Console) -> None:
    """Explain, then print what was explained, what it shows in brief, and where the files are."""
    s = explain(run_dir, method, n, steps=steps, data_dir=data_dir)
    examples = s["examples"]
    wrong = sum(not e["correct"] for e in examples)
    console.print(f"{method} ({s['captum']}) on {len(examples)} test examples of {run_dir} "
                  f"({wrong} misclassified), baseline: {s['baseline']}; {s['seconds']:.2f} s",
                  highlight=False, soft_wrap=True)
    line = completeness_line(examples)
    if line:
        console.print(line.replace("more steps", "more --steps"), highlight=False)
    if "importance" in s:
        ranked = sorted(zip(s["importance"], s["features"]), reverse=True)[:5]
        console.print("most important features (mean |attribution| over "
                      f"{s['importance_rows']} test rows): "
                      + ", ".join(f"{name} {value:.3g}" for value, name in ranked), highlight=False)
    for e in examples[:4] if s["kind"] == "text" else []:
        top = sorted(zip(e["scores"], e["tokens"]), reverse=True)[:3]
        console.print(f"  test {e['index']} ({'right' if e['correct'] else 'wrong'}): strongest "
                      "tokens " + ", ".join(f"'{t}' {v:+.2f}" for v, t in top),
                      highlight=False, markup=False)
    folder = Path(s["files"][0]).parent
    console.print(f"files: {folder}/ ({', '.join(Path(f).name for f in s['files'])})",
                  highlight=False, soft_wrap=True)
    if s.get("report"):
        console.print(f"report: [bold]{s['report']}[/] (section Explanations)", highlight=False,
                      soft_wrap=True)

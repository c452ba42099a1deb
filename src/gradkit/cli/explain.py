"""`gradkit explain`: a classifier's test predictions explained through Captum (gradkit/explain)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gradkit.cli.app import app, console, guard


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(help="A classification run directory (images, table "
                                            "rows or texts).")],
    method: Annotated[str, typer.Option("--method", "-m", help="integrated-gradients | saliency | "
                                        "occlusion | gradcam (CNNs) | shap (GradientShap).")
                      ] = "integrated-gradients",
    n: Annotated[int, typer.Option("--n", "-n", help="Test examples to explain; half are "
                                   "misclassified ones when there are enough.")] = 16,
    steps: Annotated[int, typer.Option(help="Integration steps (integrated-gradients) or samples "
                                       "(shap).")] = 32,
    data_dir: Annotated[Optional[str], typer.Option(help="Where to find the data set.")] = None,
) -> None:
    """Explain a classifier's test predictions with Captum: which pixels, features or tokens
    pushed it towards the class it predicted.

    gradkit explain RUN_DIR   (integrated gradients on 16 test examples)

    gradkit explain runs/digits-cnn/RUN -m gradcam   (a CNN's heat maps)

    gradkit explain runs/iris-mlp/RUN -m shap -n 30   (feature importance)

    Files go to RUN_DIR/artifacts/explanations/; report.html shows them.
    Each classification run explains 8 test examples as it ends; train with
    output.explain=false to skip that.

    Needs Captum: pip install 'gradkit\\[explain]'.
    """
    guard(lambda: _explain(run_dir, method, n, steps, data_dir))


def _explain(run_dir: Path, method: str, n: int, steps: int, data_dir: str | None) -> None:
    """Explain, then print what was explained, what it shows in brief, and where the files are."""
    from gradkit.explain import explain
    from gradkit.report.attributions import completeness_line

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

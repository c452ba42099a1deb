"""Why did a classifier say that? Attributions of its test predictions, through Captum.

    import gradkit as gk
    from gradkit.explain import explain
    summary = explain("runs/digits-cnn/...", method="gradcam", n=16)
    summary["files"]          # artifacts/explanations/gradcam.json, .npz, -wrong.png, -right.png

`gradkit explain RUN_DIR --method ...` is the same from the shell. Every classification run
also explains a few test examples at its end (integrated gradients, `REPORT_EXAMPLES`), for
its report's "Explanations" section; `output.explain=false` skips that. Methods and baselines:
`gradkit.artifacts.attribution`; the files: `gradkit.artifacts.explanations`; the pictures:
`gradkit.report.attributions`.

Captum is an optional dependency (`pip install gradkit[explain]`), imported only here, lazily.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gradkit.artifacts.attribution import KINDS, METHODS, check_method, check_name, require_captum
from gradkit.artifacts.explanations import DEFAULT_METHOD, REPORT_EXAMPLES, STEPS, compute, write
from gradkit.config import parse_file
from gradkit.engine import load
from gradkit.engine.builder import task_class
from gradkit.errors import ConfigError, GradkitError
from gradkit.rundir import RunDir
from gradkit.training import predict_split

SUPPORTED = ("gradkit explain supports classification runs on images, tables or texts "
             "(e.g. digits-cnn, fashion-mlp, iris-mlp, wordnet-lstm)")


def check_run(config: Any, run: Any = None) -> None:
    """Raise a clear error unless the run (its config; once loaded, the run) is a classifier of
    images, rows or texts."""
    if config.rl:
        raise GradkitError(f"{SUPPORTED}; this is a reinforcement-learning run ({config.rl.get('algo')} "
                           f"on {config.rl.get('env')}): watch it with `gradkit play RUN_DIR`")
    if task_class(config).outputs != "classes":
        raise GradkitError(f"{SUPPORTED}; this run's task is {config.task.name}")
    if run is not None and run.spec.kind not in KINDS:
        raise GradkitError(f"{SUPPORTED}; this run's data is {run.spec.kind}")


def explain(run_dir: str | Path, method: str = DEFAULT_METHOD, n: int = 16, *, steps: int = STEPS,
            data_dir: str | None = None, device: str = "cpu", checkpoint: str = "best",
            report: bool = True, model: Any = None) -> dict[str, Any]:
    """Explain `n` test predictions of a finished classification run with one Captum method.

    Half the examples are misclassified ones when there are enough. The files go to
    RUN_DIR/artifacts/explanations/ (see `gradkit.artifacts.explanations`); with `report`, the
    run's report.html is rebuilt to show them. Returns the summary written to METHOD.json,
    plus "files": the paths written.

    >>> s = explain("runs/iris-mlp/20250101-000000-0", method="occlusion", n=8)  # doctest: +SKIP
    >>> s["features"], s["importance"]                                           # doctest: +SKIP
    (['sepal length (cm)', ...], [0.04, 0.01, 1.93, 2.41])

    Raises GradkitError for runs that are not classifiers (regression, RL, generative), for a
    method that does not fit (gradcam without a conv layer), and when Captum is missing.
    """
    check_name(method)
    if n < 1 or steps < 1:
        raise ConfigError(f"n and steps must be at least 1, got n={n}, steps={steps}")
    check_run(parse_file(RunDir.existing(run_dir).config_path))
    require_captum()
    run = load(run_dir, checkpoint, model=model, device=device)
    check_run(run.config, run)
    check_method(method, run.model, run.spec)
    data = run.data(data_dir)
    cfg = run.config
    pred = predict_split(run.task, data.test, data.spec, cfg.train.eval_batch_size, run.device,
                         cfg.data.workers).argmax(1)
    summary, arrays = compute(run.model, data, pred, method, n, steps, run.device, cfg.seed)
    summary["files"] = [str(p) for p in write(run.dir, summary, arrays, data.spec)]
    if report and (cfg.output.report or (run.dir / "report.html").is_file()):
        from gradkit.report import build_report

        summary["report"] = str(build_report(run.dir))
    return summary


__all__ = ["DEFAULT_METHOD", "METHODS", "REPORT_EXAMPLES", "explain"]

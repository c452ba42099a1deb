"""Why did a classifier say that? Attributions of its test predictions, through Captum.

    import gradkit as gk
    from gradkit.explain import explain
    summary = explain("runs/digits-cnn/...", method="gradcam", n=16)
    summary["files"]          # artifacts/explanations/gradcam.json, .npz, -wrong.png, -right.png

`gradkit explain RUN_DIR --method ...` is the same from the shell. Every classification run
also explains a few test examples at its end (integrated gradients, `REPORT_EXAMPLES`), for
its report's "Explanations" section; `output.explain=false` skips that. Methods and baselines:
`gradkit.explain.methods`; the files: `gradkit.explain.artifacts`; the pictures:
`gradkit.explain.render`.

Captum is an optional dependency (`pip install gradkit[explain]`), imported only here, lazily.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

METHODS = ("integrated-gradients", "saliency", "occlusion", "gradcam", "shap")
DEFAULT_METHOD = "integrated-gradients"
REPORT_EXAMPLES = 8  # at the end of a run: few, so that training and its report stay fast
STEPS = 32  # integration steps (integrated-gradients), samples (shap)
KINDS = ("image", "tabular", "text")


def check_name(method: str) -> None:
    """Raise a ConfigError with a did-you-mean when `method` is not one of METHODS."""
    from gradkit.errors import ConfigError, did_you_mean

    if method not in METHODS:
        raise ConfigError(f"unknown explanation method '{method}'{did_you_mean(method, METHODS)}; "
                          f"choose one of: {', '.join(METHODS)}")


def require_captum() -> None:
    """Raise a GradkitError that says how to install Captum when it is missing."""
    from gradkit.errors import GradkitError

    try:
        import captum.attr  # noqa: F401
    except ImportError:
        raise GradkitError("explanations need Captum, which is not installed: "
                           "pip install 'gradkit[explain]' (or pip install 'captum>=0.7')") from None


def check_run(config: Any, spec: Any = None) -> None:
    """Raise a clear error unless the run is a classifier of images, rows or texts."""
    from gradkit.errors import GradkitError

    supported = ("gradkit explain supports classification runs on images, tables or texts "
                 "(e.g. digits-cnn, fashion-mlp, iris-mlp, wordnet-lstm)")
    if config.rl:
        raise GradkitError(f"{supported}; this is a reinforcement-learning run ({config.rl.get('algo')} "
                           f"on {config.rl.get('env')}): watch it with `gradkit play RUN_DIR`")
    task = spec.task if spec is not None else config.task.name
    if task != "classification":
        raise GradkitError(f"{supported}; this run's task is {task}")
    if spec is not None and spec.kind not in KINDS:
        raise GradkitError(f"{supported}; this run's data is {spec.kind}")


def explain(run_dir: str | Path, method: str = DEFAULT_METHOD, n: int = 16, *, steps: int = STEPS,
            data_dir: str | None = None, device: str = "cpu", checkpoint: str = "best",
            report: bool = True, model: Any = None) -> dict[str, Any]:
    """Explain `n` test predictions of a finished classification run with one Captum method.

    Half the examples are misclassified ones when there are enough. The files go to
    RUN_DIR/artifacts/explanations/ (see `gradkit.explain.artifacts`); with `report`, the
    run's report.html is rebuilt to show them. Returns the summary written to METHOD.json,
    plus "files": the paths written.

    >>> s = explain("runs/iris-mlp/20250101-000000-0", method="occlusion", n=8)  # doctest: +SKIP
    >>> s["features"], s["importance"]                                           # doctest: +SKIP
    (['sepal length (cm)', ...], [0.04, 0.01, 1.93, 2.41])

    Raises GradkitError for runs that are not classifiers (regression, RL, generative), for a
    method that does not fit (gradcam without a conv layer), and when Captum is missing.
    """
    import gradkit.api as api
    from gradkit import config as C
    from gradkit.errors import ConfigError
    from gradkit.explain import artifacts
    from gradkit.explain.methods import check_method
    from gradkit.rundir import RunDir
    from gradkit.training import predict_split

    check_name(method)
    if n < 1 or steps < 1:
        raise ConfigError(f"n and steps must be at least 1, got n={n}, steps={steps}")
    check_run(C.load_file(RunDir.existing(run_dir).config_path))
    require_captum()
    run = api.load(run_dir, checkpoint, model=model, device=device)
    check_run(run.config, run.spec)
    check_method(method, run.model, run.spec)
    data = run.data(data_dir)
    cfg = run.config
    pred = predict_split(run.task, data.test, data.spec, cfg.train.eval_batch_size, run.device,
                         cfg.data.workers).argmax(1)
    summary, arrays = artifacts.compute(run.model, data, pred, method, n, steps, run.device, cfg.seed)
    summary["files"] = [str(p) for p in artifacts.write(run.dir, summary, arrays, data.spec)]
    if report and (cfg.output.report or (run.dir / "report.html").is_file()):
        from gradkit.report import build_report

        summary["report"] = str(build_report(run.dir))
    return summary


def write_explanations(model, data, run, device, pred, verbose: bool = False) -> None:
    """At the end of a classification run: `REPORT_EXAMPLES` test examples explained by
    integrated gradients, for the report. An extra, so a failure is printed and the run goes
    on; without Captum it is skipped with the command that installs it."""
    if data.spec.kind not in KINDS or pred is None or len(pred) != len(data.test):
        return
    try:
        require_captum()
    except Exception as exc:
        print(f"gradkit: explanations skipped: {exc}", flush=True)
        return
    from gradkit.explain import artifacts

    try:
        summary, arrays = artifacts.compute(model, data, pred, DEFAULT_METHOD, REPORT_EXAMPLES,
                                            STEPS, device)
        artifacts.write(run.path, summary, arrays, data.spec)
    except Exception as exc:  # an extra for the report must not lose a finished run
        print(f"gradkit: the report's explanations were not written ({type(exc).__name__}: {exc})",
              flush=True)
        return
    if verbose:
        print(f"gradkit: explained {len(arrays['index'])} test examples ({DEFAULT_METHOD}) in "
              f"{summary['seconds']:.1f} s", flush=True)


__all__ = ["DEFAULT_METHOD", "METHODS", "explain", "write_explanations"]

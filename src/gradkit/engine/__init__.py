"""The run engine: between the parts (data, models, tasks, the loop, RL algorithms, the report)
and everything that runs them (the API and CLI, variants, tuning, federated learning, the
distributed launcher, export, serving, explanations).

    configs.py     configs checked against the registries: resolve, resolve_runs, load_file
    builder.py     build(cfg): threads, device, seeds, data (built for the task), model, task
    lifecycle.py   one run's life in its directory: create, start, fail, finish, report, trackers
    supervised.py  a supervised run: build, fit, final metrics, the task's artifacts
    reinforce.py   an RL run: the algorithm's own loop in the same lifecycle
    runner.py      execute(cfg) for either kind, resume(run_dir)
    run.py         Run and RLRun, what a finished run is in Python
    reload.py      load(run_dir or bundle), evaluate(run_dir); bundle.py reads bundles
    reference.py   the classifiers FID is scored with (trained once per data set, cached)

(Module names differ from the functions they hold, so `gradkit.engine.build` is always the
function.)

The parts never import the engine; what a part needs of it (a reference classifier for FID)
reaches it as a function (`gradkit.artifacts.Ending.fid_classifier`).
"""
from gradkit.engine.builder import Built, build, build_data
from gradkit.engine.runner import execute, resume
from gradkit.engine.reload import evaluate, load
from gradkit.engine.configs import load_file, resolve, resolve_runs, validate
from gradkit.engine.run import RLRun, Run

__all__ = ["Built", "RLRun", "Run", "build", "build_data", "evaluate", "execute", "load",
           "load_file", "resolve", "resolve_runs", "resume", "validate"]

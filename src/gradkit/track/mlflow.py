"""MLflow: one MLflow run per gradkit run, in a real tracking store.

The store is `MLFLOW_TRACKING_URI` when set (a server, a database, a folder), else one SQLite
database for all runs, `<output.dir>/mlflow.db`, with files under `<output.dir>/mlartifacts/`:

    mlflow ui --backend-store-uri sqlite:///$PWD/runs/mlflow.db

The experiment is the recipe's name (`MLFLOW_EXPERIMENT_NAME` overrides it). Everything goes
through an explicit `MlflowClient` and run id, never MLflow's global "active run": tuning
trials and variants each own their run.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from gradkit.track import experiment_name, run_name, scalar

STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
MAX_VALUE = 6000  # MLflow's limit on a parameter value's length


class MLflow:
    def __init__(self, client, uri: str, experiment: str, run_id: str, resumed: bool = False) -> None:
        self.client, self.uri, self.experiment, self.run_id = client, uri, experiment, run_id
        self.resumed = resumed

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        # MLflow refuses to change a logged parameter: a resumed run logs only new ones.
        known = self.client.get_run(self.run_id).data.params if self.resumed else {}
        items = [Param(k, str(scalar(v))[:MAX_VALUE]) for k, v in params.items() if k not in known]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i:i + 1000])

    def log_artifact(self, path: Path, folder: str) -> None:
        self.client.log_artifact(self.run_id, str(path), folder or None)

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, STATUS.get(status, "FAILED"))

    def where(self) -> dict[str, Any]:
        show = f"mlflow ui --backend-store-uri {self.uri}"
        return {"uri": self.uri, "experiment": self.experiment, "run_id": self.run_id,
                "show": f"{show}  (experiment {self.experiment}, run {self.run_id})"}


def open(cfg, run, previous: dict | None) -> MLflow:
    """A new MLflow run for `run`, or, resuming, the one it started (same store and run id)."""
    from mlflow import MlflowClient

    # The SQLite store's first use prints its schema migrations; the run is what matters.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    artifacts = None
    if not uri:
        root = Path(cfg.output.dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        uri, artifacts = f"sqlite:///{root / 'mlflow.db'}", (root / "mlartifacts").as_uri()
    client = MlflowClient(tracking_uri=uri)
    if previous and previous.get("uri") == uri and previous.get("run_id"):
        client.update_run(previous["run_id"], status="RUNNING")
        return MLflow(client, uri, previous.get("experiment", ""), previous["run_id"], resumed=True)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment_name(cfg)
    experiment_id = _experiment(client, name, artifacts)
    tags = {"gradkit.run_dir": str(run.path.resolve()), "gradkit.recipe": cfg.name,
            "mlflow.note.content": cfg.description}
    created = client.create_run(experiment_id, run_name=run_name(run), tags=tags)
    return MLflow(client, uri, name, created.info.run_id)


def _experiment(client, name: str, artifacts: str | None) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except MlflowException:  # another process (a parallel tuning trial) created it just now
        return client.get_experiment_by_name(name).experiment_id

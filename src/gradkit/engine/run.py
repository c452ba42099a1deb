"""Finished runs as objects: `Run` (a supervised run: metrics, the trained model, prediction on
raw inputs) and `RLRun` (a reinforcement-learning run: metrics and its agent). `gk.train`,
`gk.fit`, `gk.resume` and `gk.load` return them; the run directory stays the record
(`gradkit.rundir.RunDir`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.data import DataSpec, normalize
from gradkit.data.inputs import as_batch
from gradkit.errors import DataError


class Run:
    """A trained run: `run.metrics`, `run.predict(x)`, `run.classify(x)`, `run.dir`.

    >>> run = gk.train("digits-mlp")
    >>> run.metrics["test/accuracy"]
    0.97...
    >>> run.predict(images).argmax(1)   # probabilities per class, like Keras' predict
    """

    def __init__(self, path: Path, config: Any, spec: DataSpec, model: torch.nn.Module,
                 task: Any, metrics: dict[str, float], device: torch.device) -> None:
        self.dir = Path(path)
        self.config = config
        self.spec = spec
        self.model = model
        self.task = task
        self.metrics = metrics
        self.device = device

    def __repr__(self) -> str:
        key = next((k for k in ("test/accuracy", "test/nelbo", "test/mse", "test/d_loss")
                    if k in self.metrics), "test/rmse")
        return f"Run('{self.dir}', {key}={self.metrics.get(key, float('nan')):.4f})"

    def data(self, data_dir: str | None = None) -> Any:
        """The run's data set, rebuilt from its own config (`data_dir`: where to find it now);
        for data given to gk.fit, the held-out examples the run kept (artifacts/held_out.npz)."""
        from gradkit.data import DATASETS, Dataset, Split
        from gradkit.engine.builder import build_data

        cfg = self.config
        kept = self.dir / "artifacts" / "held_out.npz"
        given = cfg.data.name not in DATASETS or DATASETS.get(cfg.data.name).given
        if given and kept.is_file():
            # data given to gk.fit in Python: the examples the run kept are what there is
            with np.load(kept) as saved:
                part = Split(torch.from_numpy(saved["x"]), torch.from_numpy(saved["y"]))
            return Dataset(cfg.data.name, self.spec, part, part.take([]), part, str(kept),
                           ["the run's data was given in Python: these are the test examples it kept"])
        if data_dir:
            cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"dir": data_dir})})
        return build_data(cfg)

    @property
    def class_names(self) -> list[str] | None:
        return self.spec.class_names

    @torch.inference_mode()
    def predict(self, x: Any, batch_size: int = 1024) -> np.ndarray:
        """Raw inputs -> class probabilities (N, K), regression values (N,) or forecasts (N, H).
        `x` in any form gk.fit takes (arrays, a DataFrame, texts, a torch Dataset or DataLoader,
        whose labels are ignored)."""
        self.model.eval()
        batch = as_batch(_inputs(x)[0], self.spec)
        outs = [self.task.predict(normalize(chunk.to(self.device), self.spec)).cpu()
                for chunk in batch.split(batch_size)]
        return torch.cat(outs).numpy()

    @property
    def classifies(self) -> bool:
        """Whether `predict` gives class probabilities (else values, forecasts, images...)."""
        return self.task.outputs == "classes"

    def classify(self, x: Any, k: int = 3) -> list[list[tuple[str, float]]]:
        """Top-k (label, probability) per example."""
        if not self.classifies:
            raise DataError("classify() needs a classification run; use predict()")
        probs = self.predict(x)
        names = self.spec.class_names or [str(i) for i in range(probs.shape[1])]
        top = np.argsort(-probs, axis=1)[:, :k]
        return [[(names[j], float(p[j])) for j in row] for p, row in zip(probs, top)]

    def evaluate(self, x: Any, y: Any = None, batch_size: int = 1024) -> dict[str, float]:
        """The run's metrics (loss, accuracy... as its task measures them) on new labelled
        examples, given as `predict` takes them: arrays, a DataFrame, texts, a torch Dataset or
        DataLoader (which hold their labels); labels as in training (class names or indices,
        values).

        >>> run.evaluate(x_test, y_test)["accuracy"]
        """
        from gradkit.data import Split, make_batches
        from gradkit.data.arrays import encode_labels
        from gradkit.training import evaluate as evaluate_batches

        x, y = _inputs(x, y)
        batch = as_batch(x, self.spec)
        targets = "classes" if self.spec.num_classes is not None else "values"
        if targets == "values" and self.spec.horizon > 1:  # forecasts: (N, horizon) values
            labels = torch.as_tensor(np.asarray(y), dtype=torch.float32).reshape(len(batch), -1)
        else:
            labels, _ = encode_labels(y, targets, len(batch), "y", self.spec.class_names
                                      if targets == "classes" else None)
        self.model.eval()
        batches = make_batches(Split(batch, labels), self.spec, batch_size, self.device)
        scalars, _ = evaluate_batches(self.task, batches, self.device, "fp32")
        return scalars

    @torch.inference_mode()
    def embed(self, x: Any, batch_size: int = 1024) -> np.ndarray:
        """The features the model's head reads: the input of its last nn.Linear, (N, features),
        for raw inputs as `predict` takes them (texts for a text run: a fine-tuned BERT gives
        its pooled hidden state)."""
        heads = [m for m in self.model.modules() if isinstance(m, torch.nn.Linear)]
        if not heads:
            raise DataError("this run's model has no nn.Linear head whose input could serve as "
                            "features")
        seen: list[torch.Tensor] = []
        hook = heads[-1].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
        self.model.eval()
        try:
            for chunk in as_batch(x, self.spec).split(batch_size):
                self.model(normalize(chunk.to(self.device), self.spec))
        finally:
            hook.remove()
        return torch.cat([s.float().flatten(1).cpu() for s in seen]).numpy()

    def _repr_html_(self) -> str:
        """How a notebook shows the run: headline figures, final metrics, curves, the report."""
        from gradkit.report.notebook import run_html

        return run_html(self.dir)

    def report(self) -> Path:
        """(Re)build report.html and return its path."""
        from gradkit.report import build_report

        return build_report(self.dir)


def _inputs(x: Any, y: Any = None) -> tuple[Any, Any]:
    """A torch Dataset or DataLoader -> its (inputs, labels) as arrays; anything else as it is."""
    from gradkit.data.torchdata import is_torch_data, materialise

    if is_torch_data(x):
        xs, ys = materialise(x, None)
        return xs, ys if y is None else y
    return x, y


@dataclass
class RLRun:
    """A finished reinforcement-learning run: its directory, config, final metrics and agent
    (`agent.act(obs)`; `gradkit.rl.load_agent(dir)` reloads it, `gradkit play` evaluates it)."""

    dir: Path
    config: Any
    metrics: dict[str, Any]
    agent: Any = field(repr=False)

    def _repr_html_(self) -> str:
        from gradkit.report.notebook import run_html

        return run_html(self.dir)

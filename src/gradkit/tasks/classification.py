"""Classification: cross-entropy (optionally label-smoothed) or one-vs-rest BCE on logits."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gradkit.metrics import classification_metrics
from gradkit.tasks import StepFn, register


@register("classification")
class ClassificationTask:
    targets = "classes"
    outputs = "classes"
    options = ("label_smoothing",)  # soft targets
    default = True

    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        self.models = {"model": model}
        self.model = model
        self.num_classes = spec.num_classes
        self.loss_name = "cross_entropy" if cfg.loss == "auto" else cfg.loss
        if self.loss_name not in ("cross_entropy", "bce"):
            from gradkit.errors import ConfigError

            raise ConfigError(f"task.loss={cfg.loss} does not fit classification; "
                              "use cross_entropy or bce")
        self.label_smoothing = cfg.label_smoothing
        self._reset()

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # (B, K); the loss in fp32 even under autocast
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(logits, F.one_hot(y, self.num_classes).float())
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def train_step(self, batch, step: StepFn) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self.model(x)
        loss = self.loss(logits, y)
        step(loss, "model")
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == y).float().mean()}

    def _reset(self) -> None:
        self._preds: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self._loss_sum = 0.0
        self._count = 0

    def eval_step(self, batch) -> None:
        x, y = batch
        logits = self.model(x)
        self._loss_sum += float(self.loss(logits, y)) * len(y)
        self._count += len(y)
        self._preds.append(logits.argmax(1).cpu())
        self._targets.append(y.cpu())

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        preds, targets = torch.cat(self._preds), torch.cat(self._targets)
        self.last_pred = preds  # the pass's predicted classes, in batch order
        scalars, details = classification_metrics(preds, targets, self.num_classes)
        scalars = {"loss": self._loss_sum / max(self._count, 1), **scalars}
        self._reset()
        return scalars, details

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x).float()
        return torch.sigmoid(logits) if self.loss_name == "bce" else logits.softmax(-1)

    def check_outputs(self, out: torch.Tensor, x: torch.Tensor, ending: str | None = None) -> None:
        """A user's module must give one logit per class: (batch, classes), not probabilities."""
        from gradkit.errors import ConfigError

        k = self.num_classes
        probabilities = out.dim() == 2 and len(out) > 0 and bool(
            (out >= 0).all() and (out <= 1).all() and torch.allclose(out.sum(1), torch.ones(len(out))))
        if ending is not None or probabilities:
            layer = f"nn.{ending}" if ending else "a softmax"
            raise ConfigError(f"your module ends in {layer}: gradkit's loss takes logits (the "
                              "cross-entropy applies the softmax itself) and run.predict returns "
                              f"the probabilities; remove {layer} from the end of the module")
        if out.dim() != 2 or out.shape[1] != k:
            raise ConfigError(f"your module returns {tuple(out.shape)} for a batch of {len(x)}; "
                              f"classifying {k} classes takes (batch, {k}) logits: end it in "
                              f"nn.Linear(..., {k})")

    def baselines(self, data: Any, seed: int) -> dict[str, float]:
        """The majority class, and a logistic regression (TF-IDF for texts) on the inputs."""
        from gradkit.metrics.baselines import label_baselines

        return label_baselines(data, seed)

    def write_artifacts(self, end: Any) -> dict[str, float]:
        """Test examples with their probabilities, the top confusions (and a Transformer's
        attention), and a few explained predictions unless `output.explain=false`."""
        from gradkit.artifacts import inspection, samples

        samples.write_classified(self, end)
        inspection.write_inspection(self, end.data, end.cfg, end.run, end.device, end.test_pred)
        if end.cfg.output.explain:  # the report's Explanations: a few test examples, through Captum
            from gradkit.artifacts.explanations import write_explanations

            with end.phases("explanations"):
                write_explanations(self.model, end.data, end.run, end.device, end.test_pred, end.verbose)
        return {}

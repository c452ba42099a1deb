"""Multi-layer perceptrons, and the articles' dense networks as presets."""
from __future__ import annotations

import math

from pydantic import Field
from torch import nn

from gradkit.config import Section, Widths
from gradkit.models import register
from gradkit.models.layers import Activation, activation


class MLPConfig(Section):
    hidden: Widths = [128, 64]  # widths of the hidden layers; [] is a linear model
    activation: Activation = "relu"  # after every hidden layer
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # after every hidden activation
    batch_norm: bool = False  # batch norm before every hidden activation


class SimpleNNConfig(MLPConfig):
    """The PyTorch article's SimpleNN: 784-128-64-10 with ReLU."""


class KerasMLPConfig(MLPConfig):
    """The Keras article's Flatten-Dense(128, relu)-Dropout(0.2)-Dense(10)."""

    hidden: Widths = [128]
    dropout: float = Field(0.2, ge=0.0, lt=1.0)


class LinearConfig(MLPConfig):
    """No hidden layer: linear (or logistic) regression trained by gradient descent."""

    hidden: Widths = []


class MLP(nn.Module):
    """Flatten, then [Linear -> BatchNorm? -> activation -> Dropout?] per hidden width, then a head.

    >>> MLP(784, 10, MLPConfig(hidden=[128, 64]))(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_features: int, out_features: int, cfg: MLPConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for hidden in cfg.hidden:
            layers.append(nn.Linear(width, hidden))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(activation(cfg.activation))
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
            width = hidden
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # (B, *input_shape) -> (B, out_features)
        return self.net(x)


def _build(cfg: MLPConfig, spec) -> MLP:
    return MLP(math.prod(spec.input_shape), spec.output_dim, cfg)


register("mlp", MLPConfig, "dense network: hidden sizes, activation, dropout, batch norm")(_build)
register("simple-nn", SimpleNNConfig, "PyTorch article's SimpleNN 784-128-64-10")(_build)
register("keras-mlp", KerasMLPConfig, "Keras article's Flatten-Dense(128)-Dropout(0.2)-Dense(10)")(_build)
register("linear", LinearConfig, "a single linear layer (linear/logistic regression)")(_build)

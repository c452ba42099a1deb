"""Small shared pieces: activations by name."""
from __future__ import annotations

from typing import Literal

from torch import nn

Activation = Literal["relu", "leaky_relu", "gelu", "sigmoid", "tanh"]
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()

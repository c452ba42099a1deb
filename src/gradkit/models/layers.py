"""Small shared pieces: activations by name."""
from __future__ import annotations

from typing import Literal

from torch import nn

from gradkit.errors import ConfigError

Activation = Literal["relu", "leaky_relu", "gelu", "sigmoid", "tanh"]
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


class SequenceInput(nn.Module):
    """The first layer of a sequence model, and which positions are padding.

    Text (token ids (B, L), 0 = padding) goes through an embedding of width `dim`; a series
    (B, L, F) of floats goes through a linear projection to `dim`, or as it is when `dim` is
    None (an RNN reads F features directly). An image (C, H, W) is read as a sequence of its H
    rows of C*W values (the classic row-by-row RNN on digits). Returns (B, L, width) and a
    (B, L) mask that is True at padding (None when nothing is padded).
    """

    def __init__(self, spec, dim: int | None) -> None:
        super().__init__()
        self.text = spec.kind == "text"
        if self.text:
            if not spec.vocab_size:
                raise ConfigError("a text model needs a vocabulary: use a text data set "
                                  "(data.name=text-csv or wordnet-supersenses)")
            self.layer = nn.Embedding(spec.vocab_size, dim or 128, padding_idx=0)
            self.steps = spec.input_shape[0]
            self.width = dim or 128
        else:
            shape = tuple(spec.input_shape)
            if len(shape) not in (1, 2, 3):
                raise ConfigError(f"a sequence model needs text, a series (L, F) or images "
                                  f"(C, H, W); this data has shape {shape}; use model.name=mlp")
            features = {1: 1, 2: shape[-1], 3: shape[0] * shape[-1]}[len(shape)]
            self.steps = shape[1] if len(shape) == 3 else shape[0]
            self.layer = nn.Linear(features, dim) if dim else nn.Identity()
            self.width = dim or features

    def forward(self, x):
        if self.text:
            return self.layer(x), x == 0
        if x.dim() == 2:  # (B, L) univariate series
            x = x.unsqueeze(-1)
        elif x.dim() == 4:  # (B, C, H, W) images: H steps of C*W values
            x = x.permute(0, 2, 1, 3).flatten(2)
        return self.layer(x), None

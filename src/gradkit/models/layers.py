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
    None (an RNN reads F features directly). Returns (B, L, width) and a (B, L) mask that is
    True at padding (None when nothing is padded).
    """

    def __init__(self, spec, dim: int | None) -> None:
        super().__init__()
        self.text = spec.kind == "text"
        if self.text:
            if not spec.vocab_size:
                raise ConfigError("a text model needs a vocabulary: use a text data set "
                                  "(data.name=text-csv or wordnet-supersenses)")
            self.layer = nn.Embedding(spec.vocab_size, dim or 128, padding_idx=0)
            self.width = dim or 128
        else:
            if len(spec.input_shape) not in (1, 2):
                raise ConfigError(f"a sequence model needs text or a series (L, F); this data has "
                                  f"shape {tuple(spec.input_shape)}; use model.name=cnn or mlp")
            features = spec.input_shape[1] if len(spec.input_shape) == 2 else 1
            self.layer = nn.Linear(features, dim) if dim else nn.Identity()
            self.width = dim or features

    def forward(self, x):
        if self.text:
            return self.layer(x), x == 0
        if x.dim() == 2:  # (B, L) univariate series
            x = x.unsqueeze(-1)
        return self.layer(x), None

"""Modules a user would write in a file of their own (importable, so `gk.load` can rebuild them)."""
from torch import nn


class SmallNet(nn.Module):
    """An image classifier whose constructor arguments live on the instance."""

    def __init__(self, hidden: int, classes: int = 10) -> None:
        super().__init__()
        self.hidden, self.classes = hidden, classes
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x)


class Opaque(nn.Module):
    """A module whose constructor argument gradkit cannot read back (it keeps no `width`)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Flatten(), nn.LazyLinear(width))

    def forward(self, x):
        return self.layer(x)

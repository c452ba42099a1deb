"""The syntax of `federated.partition`: how a training split is dealt out to clients.

    iid            a random permutation cut into near-equal parts
    dirichlet:A    label skew: each class spread over the clients in Dir(A) proportions
    shards:K       the examples sorted by label, cut into clients * K shards, K per client

Parsing only (the config checks the value before anything runs); `gradkit.federated.partition`
deals the examples out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from gradkit.errors import ConfigError, did_you_mean

KINDS = ("iid", "dirichlet", "shards")
FORMS = "iid, dirichlet:ALPHA (e.g. dirichlet:0.3) or shards:K (e.g. shards:2)"


@dataclass(frozen=True)
class PartitionSpec:
    """A parsed `--partition` value.

    >>> parse_partition("dirichlet:0.3")
    PartitionSpec(kind='dirichlet', alpha=0.3, shards=0)
    """

    kind: str
    alpha: float = 0.0
    shards: int = 0

    def __str__(self) -> str:
        return {"iid": "iid", "dirichlet": f"dirichlet:{self.alpha:g}",
                "shards": f"shards:{self.shards}"}[self.kind]


def parse_partition(text: str) -> PartitionSpec:
    """'iid' | 'dirichlet:ALPHA' | 'shards:K' -> a `PartitionSpec`; anything else: a clear error."""
    kind, _, arg = str(text).strip().partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise ConfigError(f"unknown partition '{text}'{did_you_mean(kind, KINDS)}; use {FORMS}")
    if kind == "iid":
        if arg:
            raise ConfigError(f"partition 'iid' takes no parameter, got '{text}'")
        return PartitionSpec("iid")
    if kind == "dirichlet":
        try:
            alpha = float(arg)
        except ValueError:
            alpha = -1.0
        if not alpha > 0 or not math.isfinite(alpha):
            raise ConfigError(f"partition '{text}': dirichlet needs a positive concentration, "
                              "e.g. dirichlet:0.3 (smaller: more label skew)")
        return PartitionSpec("dirichlet", alpha=alpha)
    if not arg.isdigit() or int(arg) < 1:
        raise ConfigError(f"partition '{text}': shards needs a whole number of shards per "
                          "client, e.g. shards:2")
    return PartitionSpec("shards", shards=int(arg))

"""How a training split is dealt out to federated clients: by index, disjoint, covering it all.

    iid            a random permutation cut into near-equal parts
    dirichlet:A    label skew: each class spread over the clients in Dir(A) proportions
                   (Hsu, Qi & Brown 2019, "Measuring the effects of non-identical data
                   distribution"); small A (0.1) gives clients few classes, large A near-IID
    shards:K       the pathological split of McMahan et al. 2017 (FedAvg): the examples sorted
                   by label, cut into clients * K equal shards, K random shards per client

The syntax of a partition (`PartitionSpec`, `parse_partition`) is the config's
(gradkit/config/partition.py); this module deals the examples out.
"""
from __future__ import annotations

import numpy as np

from gradkit.config.partition import PartitionSpec, parse_partition  # noqa: F401  (re-exported)
from gradkit.errors import ConfigError

MIN_CLIENT_EXAMPLES = 10  # a Dirichlet draw leaving a client fewer examples is drawn again
DIRICHLET_TRIES = 100


def partition(labels: np.ndarray, clients: int, spec: PartitionSpec | str,
              seed: int = 0) -> list[np.ndarray]:
    """Indices into `labels` for each client: disjoint, together exactly range(len(labels)).

    >>> parts = partition(np.repeat(np.arange(10), 100), 5, "shards:2", seed=0)
    >>> [len(p) for p in parts], sorted(np.concatenate(parts).tolist()) == list(range(1000))
    ([200, 200, 200, 200, 200], True)
    """
    spec = parse_partition(spec) if isinstance(spec, str) else spec
    labels = np.asarray(labels)
    n = len(labels)
    if clients < 1:
        raise ConfigError(f"federated.clients must be at least 1, got {clients}")
    if n < clients * MIN_CLIENT_EXAMPLES:
        raise ConfigError(f"{n} training examples are too few for {clients} clients (each "
                          f"needs {MIN_CLIENT_EXAMPLES}+); use fewer clients or more data")
    rng = np.random.default_rng(seed)
    if spec.kind == "iid":
        parts = np.array_split(rng.permutation(n), clients)
    elif spec.kind == "dirichlet":
        parts = _dirichlet(labels, clients, spec.alpha, rng)
    else:
        parts = _shards(labels, clients, spec.shards, rng)
    return [np.sort(p).astype(np.int64) for p in parts]


def _dirichlet(labels: np.ndarray, clients: int, alpha: float,
               rng: np.random.Generator) -> list[np.ndarray]:
    for _ in range(DIRICHLET_TRIES):
        buckets: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            share = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(share)[:-1] * len(idx)).astype(int)
            for bucket, piece in zip(buckets, np.split(idx, cuts)):
                bucket.append(piece)
        parts = [np.concatenate(b) for b in buckets]
        if min(len(p) for p in parts) >= MIN_CLIENT_EXAMPLES:
            return parts
    raise ConfigError(f"dirichlet:{alpha:g} keeps leaving a client fewer than "
                      f"{MIN_CLIENT_EXAMPLES} examples ({DIRICHLET_TRIES} draws); use a larger "
                      "alpha or fewer clients")


def _shards(labels: np.ndarray, clients: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    n_shards = clients * k
    if n_shards > len(labels):
        raise ConfigError(f"shards:{k} with {clients} clients needs {n_shards} shards but there "
                          f"are only {len(labels)} examples; use fewer shards")
    # shuffle first, then a stable sort: ties (same label) land in random order
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    shards = np.array_split(order, n_shards)
    deal = rng.permutation(n_shards).reshape(clients, k)
    return [np.concatenate([shards[s] for s in row]) for row in deal]


def label_counts(labels: np.ndarray, parts: list[np.ndarray], num_classes: int) -> np.ndarray:
    """(clients, classes) example counts: the per-client label distribution the report draws."""
    labels = np.asarray(labels)
    return np.stack([np.bincount(labels[p], minlength=num_classes) for p in parts])

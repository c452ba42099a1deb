"""Distributed data-parallel training on torch.distributed: DDP over gloo (CPU) or NCCL (CUDA).

    gradkit train fashion-mlp --nproc 2                       # 2 local ranks (torchrun's agent)
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        -m gradkit train fashion-mlp                          # on each of 2 machines
    gk.train("fashion-mlp", nproc=2)                          # the same from Python

`train.batch_size` stays the *global* batch: rank r of W computes chunk r of each batch, and
DDP's gradient average equals the one-process gradient (the loss is weighted by the chunk's
share, so an uneven last batch is exact too). Only rank 0 validates and writes the run
directory; every rank gets its decisions (best epoch, early stopping) from it. See
docs/scaling.md.

The rank's side (process group, sharding, collectives, failures) is the training loop's:
`gradkit.training.distributed`; this package starts the ranks (`launch.py`, `worker.py`).
"""
from gradkit.training.distributed import (FAULT_ENV, LOCAL, Dist, DistributedError, Placement,
                                          is_main_process, placement, setup)

__all__ = ["FAULT_ENV", "LOCAL", "Dist", "DistributedError", "Placement", "is_main_process",
           "placement", "setup"]

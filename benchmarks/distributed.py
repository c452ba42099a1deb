"""One process against two DDP ranks (`--nproc 2`) on this machine, plus what an all-reduce costs.

Arms, each a fresh `gradkit train fashion-mlp` process (imports and data loading in the wall
time, as a user sees it), interleaved so that load from other processes hits all alike:

    one process, 2 torch threads      the default use of a 2-core machine
    one process, 1 torch thread       what each rank of the 2-rank arm has
    two ranks (--nproc 2), 1 thread each, gloo

Then a gloo all-reduce of 1e3..1e7 float32 between two local ranks: seconds per call and the
bus bandwidth it implies, the numbers docs/scaling.md's arithmetic starts from. On 2 cores
little gain is expected: a rank's batch half is small, and the ranks share the cores with the
all-reduce and with each other.

    python benchmarks/distributed.py            # 3 epochs x 2 repeats, results/distributed.json
    python benchmarks/distributed.py --quick    # 1 epoch x 1 repeat, written to /tmp
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

ARMS = {"one_process_2_threads": (1, 2), "one_process_1_thread": (1, 1), "two_ranks_1_thread": (2, 1)}
SIZES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]  # float32 elements per all-reduce
FASHION_MLP_PARAMS = 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10  # 109,386: its gradient


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="fashion-mlp on 1 process (2 or 1 threads) vs "
                                                 "2 DDP ranks (1 thread each), and gloo all-reduce "
                                                 "timings between 2 local ranks.")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="runs per arm, interleaved")
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat, written to /tmp")
    parser.add_argument("--out", default=None, help="JSON path (default results/distributed.json)")
    parser.add_argument("--allreduce-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 1, 1
    return args


def train_arm(nproc: int, threads: int, epochs: int, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "gradkit", "train", "fashion-mlp", "--out", str(out), "--quiet",
           f"train.epochs={epochs}", f"train.threads={threads}", "output.report=false",
           "output.explain=false", "--nproc", str(nproc)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    metrics = json.loads((out / "metrics.json").read_text())
    info = json.loads((out / "run.json").read_text())
    return {"wall_seconds": wall, "epoch_seconds": [r["epoch_seconds"] for r in records],
            "samples_per_s": [r["samples_per_s"] for r in records],
            "train_loss": [r["train/loss"] for r in records],
            "test_accuracy": metrics["test/accuracy"], "world_size": info["world_size"]}


def allreduce_worker(out: str) -> None:
    """One rank of the all-reduce timing (started by `allreduce`, under torchrun's agent)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rows = []
    for n in SIZES:
        t = torch.ones(n)
        for _ in range(3):
            dist.all_reduce(t)
        reps = max(5, min(50, 20_000_000 // n))
        times = []
        for _ in range(reps):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - start)
        seconds = _bench.median(times)
        # ring all-reduce moves 2 (W-1)/W of the buffer per rank: its "bus bandwidth"
        rows.append({"floats": n, "bytes": 4 * n, "seconds": seconds, "reps": reps,
                     "bus_gb_per_s": 4 * n * 2 * (dist.get_world_size() - 1) / dist.get_world_size()
                     / seconds / 1e9})
    if dist.get_rank() == 0:
        Path(out).write_text(json.dumps(rows))
    dist.destroy_process_group()


def allreduce(workdir: Path) -> list[dict[str, Any]]:
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    out = workdir / "allreduce.json"
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id="allreduce",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0)
    elastic_launch(config, sys.executable)(os.path.abspath(__file__), "--allreduce-worker", str(out))
    return json.loads(out.read_text())


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    # the first epoch of a run includes warm-up (allocator, lazy init): the later ones are steady
    steady = [s for r in runs for s in (r["epoch_seconds"][1:] or r["epoch_seconds"])]
    rates = [s for r in runs for s in (r["samples_per_s"][1:] or r["samples_per_s"])]
    return {"median_epoch_seconds": _bench.median(steady), "median_samples_per_s": _bench.median(rates),
            "median_wall_seconds": _bench.median([r["wall_seconds"] for r in runs]),
            "test_accuracy": [r["test_accuracy"] for r in runs], "runs": runs}


def summarize(arms: dict[str, list], reduce_rows: list[dict], args, state) -> dict[str, Any]:
    result = {name: pooled(runs) for name, runs in arms.items()}
    base = result["one_process_2_threads"]["median_epoch_seconds"]
    speedup = base / result["two_ranks_1_thread"]["median_epoch_seconds"]
    grad = min(reduce_rows, key=lambda r: abs(r["floats"] - FASHION_MLP_PARAMS))
    steps = -(-54_000 // 64)  # fashion-mlp: 54,000 training images, global batch 64
    one_thread_step = result["one_process_1_thread"]["median_epoch_seconds"] / steps
    return {
        "benchmark": "distributed", "date": _bench.now(), "quick": args.quick,
        "machine": _bench.machine(), "conditions": state, "recipe": "fashion-mlp",
        "epochs": args.epochs, "repeats": args.repeats, "arms": result,
        "speedup_two_ranks_vs_one_process_2_threads": speedup,
        "allreduce": reduce_rows,
        "step_arithmetic": {
            "gradient_floats": FASHION_MLP_PARAMS, "steps_per_epoch": steps,
            "one_thread_seconds_per_step": one_thread_step,
            "allreduce_seconds_nearest_size": grad["seconds"], "nearest_size": grad["floats"],
            "allreduce_share_of_a_one_thread_step": grad["seconds"] / one_thread_step},
        "notes": [
            "Epoch seconds: training batches only, epochs after the first, median over repeats; "
            "rank 0's clock in the 2-rank arm (it waits for the slower rank at every all-reduce).",
            "Each arm is a fresh `gradkit train` process; wall seconds include imports, data "
            "loading, the launcher (2-rank arm: torchrun's agent and 2 worker processes), "
            "validation and the final test.",
            "Same global batch (64) in every arm, so the same optimisation: test accuracies "
            "differ by float rounding only.",
            "A 2-core machine: two 1-thread ranks use the same cores as one 2-thread process, "
            "and pay an all-reduce per step on top; DDP pays off with one GPU (or many cores) "
            "per rank, where the all-reduce overlaps the backward pass.",
            "No GPU here: the NCCL path (one GPU per LOCAL_RANK) is written but not measured."],
    }


def print_summary(r: dict[str, Any]) -> None:
    print(f"fashion-mlp, {r['epochs']} epochs x {r['repeats']} repeats")
    for name, arm in r["arms"].items():
        print(f"  {name:24s} epoch {arm['median_epoch_seconds']:.2f} s  "
              f"{arm['median_samples_per_s']:.0f} samples/s  wall {arm['median_wall_seconds']:.1f} s  "
              f"test acc {', '.join(f'{a:.4f}' for a in arm['test_accuracy'])}")
    print(f"  two ranks vs one process (2 threads): {r['speedup_two_ranks_vs_one_process_2_threads']:.2f}x")
    for row in r["allreduce"]:
        print(f"  all-reduce {row['floats']:>10,d} floats  {row['seconds'] * 1e3:8.3f} ms  "
              f"{row['bus_gb_per_s']:.2f} GB/s")
    a = r["step_arithmetic"]
    print(f"  all-reduce of ~{a['nearest_size']:,d} floats = {a['allreduce_share_of_a_one_thread_step']:.0%} "
          f"of a 1-thread step ({a['one_thread_seconds_per_step'] * 1e3:.2f} ms)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.allreduce_worker:
        allreduce_worker(args.allreduce_worker)
        return 0
    out = _bench.output_path(args.out, "distributed", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    arms: dict[str, list] = {name: [] for name in ARMS}
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        for rep in range(args.repeats):
            for name, (nproc, threads) in ARMS.items():
                arms[name].append(train_arm(nproc, threads, args.epochs, Path(tmp) / f"{name}-{rep}"))
        reduce_rows = allreduce(Path(tmp))
    result = summarize(arms, reduce_rows, args, _bench.conditions(quiet, start))
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""gradkit `fashion-mlp` against the articles' plain PyTorch loop, in one process.

Both train the same 784-128-64-10 ReLU MLP with Adam 1e-3, batch 64, for the same epochs on
the same torch thread count. The plain loop is the one the tutorials show: torchvision's
`FashionMNIST` with `ToTensor()` and a `DataLoader(batch_size=64, shuffle=True)`, which turns
every image into a tensor through PIL on every epoch. gradkit keeps the uint8 images in one
tensor and batches by index. We time only the training part of each epoch (no evaluation).

    python benchmarks/fashion_mlp.py            # 5 epochs, writes benchmarks/results/fashion_mlp.json
    python benchmarks/fashion_mlp.py --quick    # 1 epoch smoke check, writes to /tmp
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
SPEEDUP_TARGET = 6.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time gradkit's fashion-mlp recipe against the articles' plain PyTorch "
                    "DataLoader(ToTensor()) loop on Fashion-MNIST, in one process, and check "
                    f"the targets: speed-up (plain / gradkit median epoch seconds) >= "
                    f"{SPEEDUP_TARGET:g} and gradkit test accuracy >= the plain loop's (no "
                    "tolerance). Writes a JSON result and prints a summary.",
        epilog="Run it from the repo root on an otherwise idle machine; `make bench` runs it too.")
    parser.add_argument("--epochs", type=int, default=5, help="epochs for both (default 5)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both (default: torch's default, the core count)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds 0..N-1, each trained by both (default 3): a 5-epoch MLP's "
                             "test accuracy moves by a few tenths of a point between seeds, so "
                             "the accuracy target compares means")
    parser.add_argument("--data", type=Path, default=FASHION_DIR,
                        help=f"folder with the four Fashion-MNIST IDX .gz files (default {FASHION_DIR})")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 epoch, result written to /tmp unless --out is given")
    parser.add_argument("--out", default=None,
                        help="JSON path (default benchmarks/results/fashion_mlp.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds = 1, 1
    return args


def run_gradkit(epochs: int, threads: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Train the `fashion-mlp` recipe; per-epoch seconds come from gradkit's own metrics.jsonl,
    which times the training batches only (validation runs after the clock stops)."""
    import gradkit as gk

    start = time.perf_counter()
    run = gk.train("fashion-mlp", out=workdir / "gradkit-run", verbose=False, seed=seed,
                   train={"epochs": epochs, "threads": threads}, output={"report": False})
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in open(run.dir / "metrics.jsonl")]
    info = json.loads((run.dir / "run.json").read_text())
    return {"epoch_seconds": [r["epoch_seconds"] for r in records],
            "samples_per_s": [r["samples_per_s"] for r in records],
            "train_loss": [r["train/loss"] for r in records],
            "val_accuracy": [r["val/accuracy"] for r in records],
            "train_samples": info["samples"]["train"],
            "train_seconds_incl_validation": info["train_seconds"],
            "wall_seconds": wall,  # data loading, final test and baselines included
            # gradkit tests its best checkpoint by train.monitor (val/loss for this recipe).
            "best_epoch": info["best_epoch"],
            "test_accuracy": run.metrics["test/accuracy"]}


def torchvision_root(src: Path, dest: Path) -> Path:
    """Lay out `dest/FashionMNIST/raw/` as torchvision expects, from the IDX .gz files.

    torchvision's `_check_exists` looks for the *extracted* files (the resource names minus
    `.gz`) and `_load_data` reads those, so we gunzip rather than symlink.
    """
    raw = dest / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        with gzip.open(src / f"{name}.gz", "rb") as fin, open(raw / name, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    return dest


def plain_model():
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                         nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def plain_train_epoch(model, loader, optimizer, loss_fn) -> tuple[float, float, int]:
    """One epoch of the articles' loop; returns (seconds, mean loss, samples).
    The clock includes the DataLoader, since turning images into tensors is part of the cost."""
    model.train()
    total, seen = 0.0, 0
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        seen += len(y)
    return time.perf_counter() - start, total / max(seen, 1), seen


def plain_accuracy(model, loader) -> float:
    import torch

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / total


def run_plain(root: Path, epochs: int, seed: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(seed)  # fixes the weights and the DataLoader's shuffle order
    to_tensor = transforms.ToTensor()
    train_set = datasets.FashionMNIST(root, train=True, transform=to_tensor, download=False)
    test_set = datasets.FashionMNIST(root, train=False, transform=to_tensor, download=False)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)
    model = plain_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds, losses = [], []
    for _ in range(epochs):
        secs, loss, seen = plain_train_epoch(model, train_loader, optimizer, loss_fn)
        seconds.append(secs)
        losses.append(loss)
    return {"epoch_seconds": seconds, "samples_per_s": [seen / s for s in seconds],
            "train_loss": losses, "train_samples": len(train_set),
            "test_accuracy": plain_accuracy(model, test_loader)}


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several seeds' results as one: all epochs' timings, mean test accuracy, per-seed detail."""
    seconds = [s for r in runs for s in r["epoch_seconds"]]
    accuracies = [r["test_accuracy"] for r in runs]
    return {"epoch_seconds": seconds, "median_epoch_seconds": _bench.median(seconds),
            "samples_per_s": [v for r in runs for v in r["samples_per_s"]],
            "test_accuracy": sum(accuracies) / len(accuracies), "test_accuracies": accuracies,
            "train_samples": runs[0]["train_samples"], "per_seed": runs}


def run_bare(epochs: int, seed: int) -> dict[str, Any]:
    """The floor: the same math with no framework at all, on gradkit's in-memory tensors.

    uint8 images batched by index, normalised per batch, fused Adam, nothing else (no metrics,
    no checks, no schedule). The gap between this and gradkit is gradkit's own overhead; the
    gap between this and the plain loop is what any loop can win by keeping data as tensors.
    """
    import torch
    import torch.nn.functional as F

    import gradkit as gk

    data = gk.data.load("fashion-mnist", seed=seed)
    x, y = data.train.x, data.train.y
    mean = torch.tensor(data.spec.mean).view(1, -1, 1, 1)
    inv_std = 1 / torch.tensor(data.spec.std).view(1, -1, 1, 1)
    torch.manual_seed(seed)
    model = plain_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    seconds = []
    for epoch in range(epochs):
        order = torch.randperm(len(y))
        start = time.perf_counter()
        for i in range(0, len(y), 64):
            idx = order[i:i + 64]
            xb = x.index_select(0, idx).float().sub_(mean).mul_(inv_std)
            loss = F.cross_entropy(model(xb), y.index_select(0, idx))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
    return {"epoch_seconds": seconds, "median_epoch_seconds": _bench.median(seconds),
            "train_samples": len(y)}


def summarize(gradkit_runs: list[dict], plain_runs: list[dict], bare_runs: list[dict],
              args: argparse.Namespace, machine_state: dict[str, Any]) -> dict[str, Any]:
    gradkit, plain = pooled(gradkit_runs), pooled(plain_runs)
    bare_seconds = [s for r in bare_runs for s in r["epoch_seconds"]]
    bare = {"epoch_seconds": bare_seconds, "median_epoch_seconds": _bench.median(bare_seconds)}
    speedup = plain["median_epoch_seconds"] / gradkit["median_epoch_seconds"]
    # gradkit's epoch holds 54,000 images (6,000 go to validation), the plain loop's 60,000,
    # so per-sample throughput is the like-for-like speed figure; the target uses epochs.
    throughput = _bench.median(gradkit["samples_per_s"]) / _bench.median(plain["samples_per_s"])
    accuracy_ok = gradkit["test_accuracy"] >= plain["test_accuracy"]
    return {
        "benchmark": "fashion_mlp", "date": _bench.now(), "quick": args.quick,
        "machine": _bench.machine(), "conditions": machine_state,
        "epochs": args.epochs, "seeds": list(range(args.seeds)),
        "gradkit": gradkit, "plain": plain,
        "bare": bare, "speedup": speedup, "throughput_speedup": throughput,
        "bare_speedup": plain["median_epoch_seconds"] / bare["median_epoch_seconds"],
        "gradkit_overhead": gradkit["median_epoch_seconds"] / bare["median_epoch_seconds"] - 1,
        "targets": {
            "speedup": {"target": f">= {SPEEDUP_TARGET:g}", "value": speedup,
                        "pass": speedup >= SPEEDUP_TARGET},
            "accuracy": {"target": "gradkit mean test accuracy >= plain mean (no tolerance)",
                         "value": gradkit["test_accuracy"] - plain["test_accuracy"],
                         "pass": accuracy_ok},
        },
        "notes": ["Epoch seconds time training batches only, not evaluation; the median is "
                  "over every epoch of every seed.",
                  "Same network, Adam 1e-3 and batch 64 on both sides. gradkit's recipe decays "
                  "the learning rate on a cosine schedule and tests its best checkpoint by "
                  "val/accuracy, training on 54,000 images (6,000 held out for validation); "
                  "the plain loop keeps lr fixed, trains on all 60,000 and tests its last epoch.",
                  "Test accuracy is the mean over the seeds; per-seed figures are under per_seed."],
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_summary(result: dict[str, Any]) -> None:
    g, p, t = result["gradkit"], result["plain"], result["targets"]
    print(f"fashion-mlp, {result['epochs']} epoch(s) x {len(result['seeds'])} seed(s), "
          f"{result['machine']['torch_threads']} threads")
    print(f"  median epoch  gradkit {g['median_epoch_seconds']:.2f} s   "
          f"plain {p['median_epoch_seconds']:.2f} s")
    print(f"  speed-up      {result['speedup']:.2f}x (per sample {result['throughput_speedup']:.2f}x)"
          f"   target >= {SPEEDUP_TARGET:g}: {verdict(t['speedup']['pass'])}")
    print(f"  floor         bare tensor loop {result['bare']['median_epoch_seconds']:.2f} s "
          f"({result['bare_speedup']:.2f}x the plain loop); gradkit's overhead over it "
          f"{result['gradkit_overhead']:+.0%}")
    print(f"  mean test accuracy gradkit {g['test_accuracy']:.4f}   plain {p['test_accuracy']:.4f}"
          f"   equal or better: {verdict(t['accuracy']['pass'])}")


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    out = _bench.output_path(args.out, "fashion_mlp", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        work = Path(tmp)
        root = torchvision_root(args.data, work / "torchvision")
        gradkit, plain, bare = [], [], []
        for seed in range(args.seeds):
            gradkit.append(run_gradkit(args.epochs, args.threads, seed, work / f"seed{seed}"))
            plain.append(run_plain(root, args.epochs, seed))
            bare.append(run_bare(args.epochs, seed))
    result = summarize(gradkit, plain, bare, args, _bench.conditions(quiet, start))
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

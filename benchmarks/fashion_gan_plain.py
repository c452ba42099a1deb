"""The articles' MLP GAN as a plain PyTorch tutorial loop on Fashion-MNIST: epoch time and FID,
and gradkit's `fashion-gan` recipe timed in the same process once it exists.

The plain loop is written the way tutorials write it: torchvision's `FashionMNIST` with
`ToTensor()` and `Normalize((0.5,), (0.5,))` to [-1, 1], `DataLoader(batch_size=64,
shuffle=True)`; generator Linear(100,256)-ReLU-Linear(256,784)-Tanh, discriminator
Linear(784,256)-LeakyReLU(0.2)-Linear(256,1)-Sigmoid; `nn.BCELoss`; two Adam optimisers (lr 2e-4,
betas (0.5, 0.999)); per batch a discriminator step on real and fake, then a non-saturating
generator step. After training, its FID in gradkit's reference-classifier features
(`gradkit.metrics.fid.quality_report`, 10,000 samples against the test split) and the
real-vs-real floor are recorded, so the two loops can be compared at equal training time.

    python benchmarks/fashion_gan_plain.py            # 5 epochs, writes results/fashion_gan_plain.json
    python benchmarks/fashion_gan_plain.py --quick    # 1 epoch, 2,000 FID samples, writes to /tmp
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench
from fashion_mlp import FASHION_DIR, torchvision_root

RECIPE = "fashion-gan"
SPEEDUP_TARGET = 3.0  # issue 4: gradkit's epoch at least 3x faster than the plain loop
LATENT = 100
BATCH_SIZE = 64


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the articles' MLP GAN written as a plain PyTorch DataLoader loop on "
                    "Fashion-MNIST, score its samples by FID in gradkit's reference-classifier "
                    f"features, and time gradkit's `{RECIPE}` recipe (when it exists) in the same "
                    f"process: target plain / gradkit median epoch seconds >= {SPEEDUP_TARGET:g}.",
        epilog="Run it from the repo root on an otherwise idle machine. The first run trains "
               "the reference classifier (about a minute) into the gradkit cache.")
    parser.add_argument("--epochs", type=int, default=5, help="epochs for both loops (default 5)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both (default: torch's default, the core count)")
    parser.add_argument("--fid-samples", type=int, default=10_000,
                        help="generated images scored against as many test images (default 10,000)")
    parser.add_argument("--data", type=Path, default=FASHION_DIR,
                        help=f"folder with the four Fashion-MNIST IDX .gz files (default {FASHION_DIR})")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 epoch, 2,000 FID samples, result written to /tmp")
    parser.add_argument("--out", default=None,
                        help="JSON path (default benchmarks/results/fashion_gan_plain.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.fid_samples = 1, 2_000
    return args


def plain_networks():
    from torch import nn

    generator = nn.Sequential(nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh())
    discriminator = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1),
                                  nn.Sigmoid())
    return generator, discriminator


def plain_epoch(generator, discriminator, loader, g_opt, d_opt, criterion) -> dict[str, float]:
    """One epoch of the tutorial loop; the clock includes the DataLoader (PIL -> tensor per image)."""
    import torch

    d_total = g_total = 0.0
    batches = 0
    start = time.perf_counter()
    for real, _ in loader:
        real = real.view(real.size(0), -1)  # (B, 784) in [-1, 1]
        ones, zeros = torch.ones(real.size(0), 1), torch.zeros(real.size(0), 1)
        # discriminator: real -> 1, fake -> 0
        fake = generator(torch.randn(real.size(0), LATENT))
        d_loss = criterion(discriminator(real), ones) + criterion(discriminator(fake.detach()), zeros)
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        # generator, non-saturating: make the discriminator call the fakes real
        g_loss = criterion(discriminator(fake), ones)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        d_total += d_loss.item()
        g_total += g_loss.item()
        batches += 1
    return {"seconds": time.perf_counter() - start, "d_loss": d_total / batches,
            "g_loss": g_total / batches}


def run_plain(root: Path, epochs: int, seed: int = 0) -> tuple[dict[str, Any], Any]:
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    train_set = datasets.FashionMNIST(root, train=True, transform=transform, download=False)
    loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)
    generator, discriminator = plain_networks()
    criterion = torch.nn.BCELoss()
    g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    epochs_out = [plain_epoch(generator, discriminator, loader, g_opt, d_opt, criterion)
                  for _ in range(epochs)]
    seconds = [e["seconds"] for e in epochs_out]
    return ({"epoch_seconds": seconds, "median_epoch_seconds": _bench.median(seconds),
             "train_seconds": sum(seconds), "train_samples": len(train_set),
             "d_loss": [e["d_loss"] for e in epochs_out],
             "g_loss": [e["g_loss"] for e in epochs_out]}, generator)


def plain_samples(generator, n: int, seed: int = 1):
    """n generated images (N, 1, 28, 28) in [0, 1]: the tanh output mapped by (x + 1) / 2."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = generator(torch.randn(n, LATENT, generator=gen))
    return ((x + 1) / 2).clamp(0, 1).view(n, 1, 28, 28)


def score(samples, n: int) -> dict[str, Any]:
    import gradkit as gk
    from gradkit.engine.reference import for_fid
    from gradkit.metrics.fid import ClassifierFeatures, quality_report

    start = time.perf_counter()
    reference, classifier = for_fid("fashion-mnist")  # the one gradkit's own FID uses, cached
    q = quality_report(samples, gk.data.load("fashion-mnist"), reference,
                       ClassifierFeatures(classifier), n=n)
    q["seconds"] = time.perf_counter() - start
    return q


def recipe_missing() -> str | None:
    """Why gradkit's `fashion-gan` cannot run on this branch, or None when it can."""
    from gradkit.config import recipe_names
    from gradkit.tasks import TASKS

    if "gan" not in TASKS.names():
        return "recipe not available yet: no `gan` task is registered on this branch"
    if RECIPE not in recipe_names():
        return f"recipe not available yet: no `{RECIPE}` recipe on this branch"
    return None


def run_gradkit(epochs: int, threads: int, workdir: Path, n: int) -> dict[str, Any]:
    """Train the recipe; its epoch seconds come from its own metrics.jsonl (training batches only)."""
    import gradkit as gk

    missing = recipe_missing()
    if missing:
        return {"available": False, "reason": missing}
    run = gk.train(RECIPE, out=workdir / "gradkit-run", verbose=False,
                   overrides=[f"train.epochs={epochs}", f"train.threads={threads}",
                              "output.report=false", "task.fid=0"])  # scored below, as the plain loop is
    records = [json.loads(line) for line in open(run.dir / "metrics.jsonl")]
    seconds = [r["epoch_seconds"] for r in records]
    out = {"available": True, "epoch_seconds": seconds, "median_epoch_seconds": _bench.median(seconds),
           "train_seconds": sum(seconds), "fid_metrics": {k: v for k, v in run.metrics.items() if "fid" in k}}
    sampler = getattr(run.model, "sample", None)  # the generative models' `sample(n)` in [0, 1]
    if sampler is None:
        out["fid"] = {"available": False, "reason": "the run's model has no sample(n)"}
    else:
        out["fid"] = score(sampler(n).detach().cpu(), n)
    return out


def summarize(plain: dict, plain_fid: dict, gradkit: dict, args: argparse.Namespace,
              machine_state: dict[str, Any]) -> dict[str, Any]:
    speedup = (plain["median_epoch_seconds"] / gradkit["median_epoch_seconds"]
               if gradkit.get("available") else None)
    targets = {}
    if speedup is not None:
        targets["speedup"] = {"target": f">= {SPEEDUP_TARGET:g}", "value": speedup,
                              "pass": speedup >= SPEEDUP_TARGET}
    return {
        "benchmark": "fashion_gan_plain", "date": _bench.now(), "quick": args.quick,
        "machine": _bench.machine(), "conditions": machine_state, "epochs": args.epochs,
        "batch_size": BATCH_SIZE, "threads": args.threads, "plain": {**plain, "fid": plain_fid},
        "gradkit": gradkit, "speedup": speedup, "targets": targets,
        "notes": ["Epoch seconds time the training batches only (the plain loop's include its "
                  "DataLoader, whose per-image ToTensor/Normalize is part of the tutorial's cost).",
                  "FID: n generated images against n random test images in the penultimate "
                  "features of gradkit's reference Fashion-MNIST classifier (named with its test "
                  "accuracy under fid.classifier); fid_floor is n real train vs the same n test "
                  "images. Compare FIDs only at the same n and classifier.",
                  "The plain loop trains on all 60,000 training images per epoch; gradkit's "
                  "recipe on its 54,000 (6,000 held out for validation)."],
    }


def print_summary(result: dict[str, Any]) -> None:
    p, g, q = result["plain"], result["gradkit"], result["plain"]["fid"]
    print(f"fashion GAN, {result['epochs']} epoch(s), batch {result['batch_size']}, "
          f"{result['threads']} threads")
    print(f"  plain loop   median epoch {p['median_epoch_seconds']:.2f} s "
          f"(all: {', '.join(f'{s:.1f}' for s in p['epoch_seconds'])})")
    print(f"  plain FID    {q['fid']:.2f} at n={q['n']} (real-vs-real floor {q['fid_floor']:.2f}; "
          f"classifier {q['classifier_run']}, test accuracy {q['classifier_accuracy']:.4f}); "
          f"classes covered {q['class_histogram']['classes_covered']}/10")
    if not g.get("available"):
        print(f"  gradkit      {g['reason']}")
    else:
        print(f"  gradkit      median epoch {g['median_epoch_seconds']:.2f} s; speed-up "
              f"{result['speedup']:.2f}x (target >= {SPEEDUP_TARGET:g}: "
              f"{'PASS' if result['targets']['speedup']['pass'] else 'FAIL'})")


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    out = _bench.output_path(args.out, "fashion_gan_plain", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        work = Path(tmp)
        plain, generator = run_plain(torchvision_root(args.data, work / "torchvision"), args.epochs)
        gradkit = run_gradkit(args.epochs, args.threads, work, args.fid_samples)
    machine_state = _bench.conditions(quiet, start)  # the timed part ends here; FID is not timed
    plain_fid = score(plain_samples(generator, args.fid_samples), args.fid_samples)
    result = summarize(plain, plain_fid, gradkit, args, machine_state)
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

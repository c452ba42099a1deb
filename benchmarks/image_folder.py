"""What your own image files cost: Fashion-MNIST as PNG files, held in memory vs streamed.

Writes Fashion-MNIST's 70,000 images as `train/<class>/*.png` and `test/<class>/*.png` (once,
in a temporary folder), then trains the `fashion-mlp` recipe three ways on the same examples:

- `idx`: the `fashion-mnist` data set read from its IDX files (the reference fast path);
- `memory`: `image-folder`, decoded once into a uint8 tensor (`data.in_memory=true`, what
  `auto` picks for a set this size);
- `stream`: `image-folder` decoded by DataLoader workers on every epoch (`data.in_memory=false`,
  what `auto` picks once a folder exceeds `data.memory_limit_mb`).

For each: seconds to build the data set (listing and decoding files, statistics), median epoch
seconds, and test accuracy. In-memory folders should train as fast as the IDX files; the streamed
epoch shows what decoding every file on every epoch costs on this machine.

    python benchmarks/image_folder.py            # 3 epochs, writes results/image_folder.json
    python benchmarks/image_folder.py --quick    # 10,000 images, 1 epoch, to /tmp
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

RECIPE = "fashion-mlp"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train fashion-mlp on Fashion-MNIST read from IDX files, from a folder of "
                    "PNG files held in memory, and from the same folder streamed by DataLoader "
                    "workers; record data-set build seconds, epoch seconds and test accuracy.",
        epilog="Needs Fashion-MNIST on disk (apt-get install dataset-fashion-mnist). Run it from "
               "the repo root on an otherwise idle machine.")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per variant (default 3)")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers for the streamed variant (default: gradkit's, "
                             "min(4, CPUs - 1))")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 10,000 images, 1 epoch, result written to /tmp")
    parser.add_argument("--out", default=None,
                        help="JSON path (default benchmarks/results/image_folder.json)")
    return parser.parse_args(argv)


def write_pngs(root: Path, limit: int | None) -> tuple[int, float]:
    """Fashion-MNIST's train and test images as ROOT/<split>/<class>/<i>.png; (files, seconds)."""
    import gradkit as gk
    from PIL import Image

    start = time.perf_counter()
    data = gk.data.load("fashion-mnist", val_fraction=0.0)
    count = 0
    for part, split in (("train", data.train), ("test", data.test)):
        n = len(split) if limit is None else min(len(split), limit * len(split) // 70_000)
        names = data.spec.class_names
        for name in names:
            (root / part / name.replace("/", "-")).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            label = names[int(split.y[i])].replace("/", "-")
            Image.fromarray(split.x[i, 0].numpy()).save(root / part / label / f"{i}.png")
        count += n
    return count, time.perf_counter() - start


def run_variant(name: str, data: dict[str, Any], epochs: int, workdir: Path) -> dict[str, Any]:
    import gradkit as gk
    from gradkit.engine import build_data, resolve

    cfg = resolve(RECIPE, overrides=[f"data.{k}={v}" for k, v in data.items()])
    start = time.perf_counter()
    ds = build_data(cfg)
    build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    run = gk.train(RECIPE, data=data, train={"epochs": epochs}, out=workdir / name, verbose=False,
                   output={"report": False})
    records = [json.loads(line) for line in open(run.dir / "metrics.jsonl")]
    epoch_seconds = [r["epoch_seconds"] for r in records]
    return {"variant": name, "data": data, "streamed": type(ds.train).__name__ == "StreamSplit",
            "train_examples": len(ds.train), "build_seconds": build_seconds,
            "epoch_seconds": epoch_seconds,
            # the first epoch also starts the workers and warms caches
            "median_epoch_seconds": _bench.median(epoch_seconds[1:] or epoch_seconds),
            "wall_seconds": time.perf_counter() - start,
            "test_accuracy": run.metrics["test/accuracy"]}


def print_summary(result: dict[str, Any]) -> None:
    print(f"{RECIPE}, {result['epochs']} epoch(s), {result['files']} PNG files "
          f"(written in {result['write_seconds']:.1f} s)")
    for v in result["variants"]:
        print(f"  {v['variant']:<7} build {v['build_seconds']:6.1f} s   median epoch "
              f"{v['median_epoch_seconds']:6.2f} s   test accuracy {v['test_accuracy']:.4f}")
    print(f"  streamed epoch / in-memory epoch: {result['stream_over_memory']:.1f}x")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    out = _bench.output_path(args.out, "image_folder", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        root = Path(tmp) / "fashion-png"
        files, write_seconds = write_pngs(root, 10_000 if args.quick else None)
        folder = {"name": "image-folder", "dir": str(root)}
        stream = {**folder, "in_memory": False}
        if args.workers is not None:
            stream["workers"] = args.workers
        variants = [("idx", {"name": "fashion-mnist"}), ("memory", {**folder, "in_memory": True}),
                    ("stream", stream)]
        if args.quick:
            variants[0][1]["limit"] = 10_000 * 6 // 7
        rows = [run_variant(name, data, epochs, Path(tmp)) for name, data in variants]
    by = {r["variant"]: r for r in rows}
    result = {
        "benchmark": "image_folder", "date": _bench.now(), "quick": args.quick,
        "machine": _bench.machine(), "conditions": _bench.conditions(quiet, start),
        "recipe": RECIPE, "epochs": epochs, "files": files, "write_seconds": write_seconds,
        "variants": rows,
        "memory_over_idx": by["memory"]["median_epoch_seconds"] / by["idx"]["median_epoch_seconds"],
        "stream_over_memory": by["stream"]["median_epoch_seconds"] / by["memory"]["median_epoch_seconds"],
        "targets": {},
        "notes": ["build_seconds: gradkit.data.build alone (list files, decode or sample them, "
                  "fit mean/std); gk.train builds the data set again inside wall_seconds.",
                  "median_epoch_seconds leaves out the first epoch (worker start-up, warm caches) "
                  "when there are two or more."],
    }
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

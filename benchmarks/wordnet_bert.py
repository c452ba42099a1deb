"""MiniLM-L6 fine-tuning: gradkit's `wordnet-bert` against a plain Hugging Face loop, same run.

Part 1 (speed, same work): both train one epoch on the same training glosses with the same
model, batch size (32), sequence length (64), optimiser and schedule. The plain loop is the one
Hugging Face's "fine-tune in native PyTorch" tutorial teaches: `padding="max_length"`, a
shuffled DataLoader, `AutoModelForSequenceClassification`, AdamW and a linear schedule. gradkit
pads each batch only to its longest gloss and groups glosses of similar length. Both are scored
on the same test glosses.

Part 2 (accuracy): the recipe as shipped on every training gloss, with its TF-IDF + logistic
regression baseline and the from-scratch wordnet-transformer's figure beside it.

    python benchmarks/wordnet_bert.py                   # writes results/wordnet_bert.json
    python benchmarks/wordnet_bert.py --quick           # small slices, written to /tmp
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

BATCH, LENGTH = 32, 64


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", type=int, default=3000,
                        help="training glosses for the speed comparison (default 3000)")
    parser.add_argument("--test-subset", type=int, default=2000,
                        help="test glosses both loops of part 1 are scored on (default 2000)")
    parser.add_argument("--skip-full", action="store_true", help="part 1 only")
    parser.add_argument("--quick", action="store_true", help="tiny slices; result to /tmp")
    parser.add_argument("--out", default=None, help="JSON path (default results/wordnet_bert.json)")
    return parser.parse_args(argv)


def plain_hf_loop(model_dir: str, train_texts: list[str], train_y: list[int],
                  test_texts: list[str], test_y: list[int], num_labels: int, lr: float,
                  warmup_fraction: float, seed: int) -> dict[str, Any]:
    """The tutorial loop, written as a reader would from the Hugging Face docs."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_scheduler

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    t0 = time.perf_counter()
    enc = tokenizer(train_texts, padding="max_length", truncation=True, max_length=LENGTH,
                    return_tensors="pt")
    tokenize_seconds = time.perf_counter() - t0
    data = TensorDataset(enc["input_ids"], enc["attention_mask"], torch.tensor(train_y))
    loader = DataLoader(data, batch_size=BATCH, shuffle=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels,
                                                               local_files_only=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = len(loader)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=int(warmup_fraction * steps),
                              num_training_steps=steps)
    model.train()
    t0 = time.perf_counter()
    for ids, mask, y in loader:
        loss = model(input_ids=ids, attention_mask=mask, labels=y).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    epoch_seconds = time.perf_counter() - t0
    model.eval()
    enc = tokenizer(test_texts, padding="max_length", truncation=True, max_length=LENGTH,
                    return_tensors="pt")
    correct = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(test_texts), 256):
            part = slice(start, start + 256)
            logits = model(input_ids=enc["input_ids"][part], attention_mask=enc["attention_mask"][part]).logits
            correct += int((logits.argmax(1) == torch.tensor(test_y[part])).sum())
    return {"epoch_seconds": epoch_seconds, "tokenize_seconds": tokenize_seconds,
            "eval_seconds": time.perf_counter() - t0, "test_accuracy": correct / len(test_texts),
            "steps": steps}


def speed_part(subset: int, test_subset: int, workdir: Path) -> dict[str, Any]:
    import numpy as np
    import torch

    import gradkit as gk
    from gradkit.data import pretrained_text as pretrained
    from gradkit.data import make_batches
    from gradkit.training import evaluate

    run = gk.train("wordnet-bert", out=workdir / "subset", verbose=False, output={"report": False},
                   data={"limit": subset}, train={"epochs": 1})
    cfg, info = run.config, json.loads((run.dir / "run.json").read_text())
    history = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    data = run.data()  # the same glosses the run saw
    pick = np.random.default_rng(0).choice(len(data.test), min(test_subset, len(data.test)), replace=False)
    test = data.test.take(np.sort(pick))
    scalars, _ = evaluate(run.task, make_batches(test, data.spec, 256, torch.device("cpu")),
                          torch.device("cpu"), "fp32")
    ours = {"epoch_seconds": history[0]["epoch_seconds"], "test_accuracy": scalars["accuracy"],
            "train_examples": info["samples"]["train"],
            "steps": history[0]["step"]}
    model_dir, _ = pretrained.resolve(cfg.model["pretrained"])
    plain = plain_hf_loop(model_dir, data.train.text, data.train.y.tolist(), test.text,
                          test.y.tolist(), data.spec.num_classes, cfg.optim.lr,
                          cfg.optim.warmup_epochs, cfg.seed)
    tokens = (data.train.x != 0).sum().item()
    return {"train_examples": len(data.train), "test_examples": len(test), "batch_size": BATCH,
            "max_length": LENGTH, "mean_tokens_per_gloss": tokens / len(data.train),
            "gradkit": ours, "plain_hf_loop": plain,
            "speedup": plain["epoch_seconds"] / ours["epoch_seconds"]}


def full_part(workdir: Path, quick: bool) -> dict[str, Any]:
    import gradkit as gk

    extra = {"data": {"limit": 2000}, "train": {"epochs": 1}} if quick else {}
    start = time.perf_counter()
    run = gk.train("wordnet-bert", out=workdir / "full", verbose=False, output={"report": False},
                   **extra)
    info = json.loads((run.dir / "run.json").read_text())
    history = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    return {"test_accuracy": run.metrics["test/accuracy"],
            "tfidf_logreg_accuracy": run.metrics.get("baseline/tfidf-logreg/accuracy"),
            "train_examples": info["samples"]["train"], "epochs": info["epochs_completed"],
            "epoch_seconds": [h["epoch_seconds"] for h in history],
            "val_accuracy": [h["val/accuracy"] for h in history],
            "train_seconds": info["train_seconds"], "wall_seconds": time.perf_counter() - start}


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets: no slower per epoch than the plain loop; beat TF-IDF + logistic
    regression (and the from-scratch wordnet-transformer, 0.8943) on the full data."""
    out = {"epoch_speed": {"target": "gradkit epoch seconds <= plain HF loop's (same glosses)",
                           "value": result["speed"]["speedup"],
                           "pass": result["speed"]["speedup"] >= 1.0}}
    if "full" in result:
        f = result["full"]
        margin = f["test_accuracy"] - f["tfidf_logreg_accuracy"]
        out["beats_tfidf"] = {"target": "full-data test accuracy > TF-IDF + logistic regression",
                              "value": margin, "pass": margin > 0}
    return out


NOTES = ["Part 1 times training batches only (no evaluation, no tokenising); both loops train "
         "one epoch on the same glosses with batch 32, max_length 64, AdamW and a linear "
         "schedule with 10% warm-up, and are scored on the same 2,000 test glosses.",
         "The plain loop pads every gloss to 64 tokens (padding='max_length', as the Hugging Face "
         "tutorial does); gradkit pads a batch to its longest gloss and groups similar lengths, "
         "so it computes on ~16 tokens a gloss. The plain loop classifies from BERT's pooler "
         "([CLS]); the recipe mean-pools, what MiniLM-L6 was trained for, which may explain part of the accuracy gap (not separated).",
         "Part 2 is the recipe as shipped (2 epochs, 45,744 training glosses, best epoch by "
         "val/accuracy), tested on all 12,418 test glosses."]


def print_summary(result: dict[str, Any]) -> None:
    s = result["speed"]
    print(f"wordnet-bert, {s['train_examples']} glosses, batch {BATCH}, max_length {LENGTH}:")
    print(f"  gradkit   epoch {s['gradkit']['epoch_seconds']:.1f} s  test acc "
          f"{s['gradkit']['test_accuracy']:.4f}")
    print(f"  plain HF  epoch {s['plain_hf_loop']['epoch_seconds']:.1f} s  test acc "
          f"{s['plain_hf_loop']['test_accuracy']:.4f}   -> gradkit {s['speedup']:.2f}x faster")
    if "full" in result:
        f = result["full"]
        print(f"  full data: test acc {f['test_accuracy']:.4f} (TF-IDF {f['tfidf_logreg_accuracy']:.4f}) "
              f"after {f['epochs']} epochs, {f['train_seconds']:.0f} s")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    path = _bench.output_path(args.out, "wordnet_bert", args.quick)
    quiet = _bench.idle_check()
    start = _bench.cpu_counters()
    subset, test_subset = (300, 200) if args.quick else (args.subset, args.test_subset)
    result: dict[str, Any] = {"benchmark": "wordnet_bert", "date": _bench.now(),
                              "machine": _bench.machine(), "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        result["speed"] = speed_part(subset, test_subset, Path(tmp))
        if not args.skip_full:
            result["full"] = full_part(Path(tmp), args.quick)
    result["conditions"] = _bench.conditions(quiet, start)
    result["targets"], result["notes"] = targets(result), NOTES
    _bench.finish(result, path, print_summary)


if __name__ == "__main__":
    main()

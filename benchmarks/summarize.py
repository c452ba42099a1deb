"""Regenerate benchmarks/RESULTS.md from benchmarks/results/*.json.

RESULTS.md is generated, never edited by hand, so the document cannot drift from the data.
The benchmark scripts call this after writing into results/, so `make bench` refreshes it too.

    python benchmarks/summarize.py
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import _bench

HERE = Path(__file__).resolve().parent

HOW_TO_RERUN = """\
## How to rerun

Run from the repo root, on an otherwise idle machine (check `uptime` / `top -bn1 | head -15`;
each script also measures other processes' CPU share and flags a busy machine):

    make bench                                   # all benchmarks, as shipped
    .venv/bin/python benchmarks/fashion_mlp.py   # gradkit vs the plain PyTorch loop (--epochs N)
    .venv/bin/python benchmarks/fashion_cnn.py   # fashion-cnn in the 90 s budget (--set key=value)
    .venv/bin/python benchmarks/recipes.py       # every recipe as shipped: the figure it reaches
    .venv/bin/python benchmarks/image_folder.py  # Fashion-MNIST as PNG files: in memory vs streamed
    .venv/bin/python benchmarks/series.py        # the sunspots recipes vs persistence and seasonal-naive
    .venv/bin/python benchmarks/adding.py        # adding-rnn-vs-lstm: RNN vs LSTM vs predict-the-mean
    .venv/bin/python benchmarks/fashion_gan_plain.py  # the articles' MLP GAN, plain loop: epoch time, FID
    .venv/bin/python benchmarks/generative.py    # DCGAN vs MLP GAN at equal time (FID), conv vs MLP VAE
    .venv/bin/python benchmarks/transfer.py      # ImageNet EfficientNet-Lite0 vs random init, 1,000 Fashion images
    .venv/bin/python benchmarks/explain.py       # seconds the end-of-run explanations add to a run
    .venv/bin/python benchmarks/distributed.py   # fashion-mlp on 1 process vs 2 DDP ranks; gloo all-reduce
    .venv/bin/python benchmarks/serve_load.py    # gradkit serve: requests/s, p50/p99 latency, errors,
                                                 # /health while one heavy request decodes
    .venv/bin/python benchmarks/fast_failure.py  # help, listings and config mistakes: seconds each
    .venv/bin/python benchmarks/overhead.py      # a run's fixed cost: wall vs training, by phase, peak MB
    .venv/bin/python benchmarks/lessons.py       # every lesson recipe's verdict (docs/lessons.md)
    .venv/bin/python benchmarks/gpu_check.py     # on a GPU machine: CUDA tests + GPU benchmarks
    .venv/bin/python benchmarks/rl_cartpole.py   # PPO/DQN vs Stable-Baselines3 (RL Zoo) on CartPole-v1
                                                 # (needs `.venv/bin/pip install stable-baselines3`)
    .venv/bin/python benchmarks/rl_minatar.py    # pixel DQN/PPO on MinAtar Breakout, held-out seeds;
                                                 # their loops' steps/s against plain CleanRL-style loops
    .venv/bin/python benchmarks/summarize.py     # rewrite this file from results/*.json

Each script takes `--quick` for a smoke check that writes to /tmp instead of `results/`.
`results/<benchmark>.json` is the latest run; `results/<benchmark>_avx512_bf16.json` keeps the
run on a CPU with native bf16 (AVX512-BF16), where `train.precision=auto` trains in bf16.
"""


def verdict(target: dict[str, Any]) -> str:
    return "pass" if target["pass"] else "**FAIL**"


def machine_line(result: dict[str, Any]) -> str:
    m, c = result["machine"], result["conditions"]
    state = (f"BUSY ({c['others_cpu_share_during']:.0%} of the CPU used by other processes "
             "during the run; timings unreliable)" if c["busy_warning"] else "otherwise idle")
    flags = f" ({', '.join(m['cpu_flags']) or 'no avx2'})" if "cpu_flags" in m else ""
    gpus = f", GPU {', '.join(m['gpus'])}" if m.get("gpus") else ""
    return (f"{result['date']}, {m['cpu_count']} x {m['cpu_model']}{flags}{gpus}, {m['torch_threads']} torch "
            f"threads, torch {m['torch_version']}; machine {state}")


def seconds(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def span(seeds: list[int]) -> str:
    """A seed list as `a-b` when it is a run of consecutive seeds, else comma-separated."""
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def notes(result: dict[str, Any]) -> str:
    return "".join(f"- {note}\n" for note in result.get("notes", []))


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def accuracies(side: dict[str, Any]) -> str:
    return ", ".join(f"{a:.4f}" for a in side["test_accuracies"])


def fashion_mlp(r: dict[str, Any]) -> str:
    g, p, t = r["gradkit"], r["plain"], r["targets"]
    rows = [
        ["median epoch seconds (training only)", f"{g['median_epoch_seconds']:.2f}",
         f"{p['median_epoch_seconds']:.2f}", "", ""],
        ["speed-up (plain / gradkit epoch)", f"{r['speedup']:.2f}x", "", t["speedup"]["target"],
         verdict(t["speedup"])],
        ["speed-up per sample (54k vs 60k per epoch)", f"{r['throughput_speedup']:.2f}x", "", "", ""],
        ["floor: bare tensor loop, same math, no framework",
         f"{r['bare']['median_epoch_seconds']:.2f} s ({r['bare_speedup']:.2f}x plain)", "", "", ""],
        ["gradkit's overhead over the floor", f"{r['gradkit_overhead']:+.0%}", "", "", ""],
        ["mean test accuracy", f"{g['test_accuracy']:.4f}", f"{p['test_accuracy']:.4f}",
         "gradkit >= plain", verdict(t["accuracy"])],
        ["per-seed test accuracy", accuracies(g), accuracies(p), "", ""],
    ]
    header = ["", "gradkit `fashion-mlp`", "plain `DataLoader(ToTensor())`", "target", "result"]
    return (f"## fashion_mlp: gradkit vs the articles' plain PyTorch loop\n\n"
            f"{r['epochs']} epochs x {len(r['seeds'])} seeds, batch 64, Adam 1e-3, 784-128-64-10 "
            f"MLP. {machine_line(r)}.\n\n"
            f"{table(header, rows)}\n\n"
            f"Per-epoch seconds: gradkit {seconds(g['epoch_seconds'])}; "
            f"plain {seconds(p['epoch_seconds'])}.\n\n"
            + notes(r))


def fashion_cnn(r: dict[str, Any]) -> str:
    t, budget = r["targets"], f"{r['budget_seconds']:g}"
    epochs = ", ".join(f"{s:.1f} s / {a:.4f}" for s, a in zip(r["epoch_seconds"], r["val_accuracy"]))
    overrides = " ".join(f"`{o}`" for o in r["overrides"]) or "none (recipe as shipped)"
    precision = f", trained in {r['precision']}" if "precision" in r else ""
    rows = [
        ["train seconds (run.json)", f"{r['train_seconds']:.1f}", f"<= {budget}", verdict(t["budget"])],
        ["test accuracy", f"{r['test_accuracy']:.4f}", t["accuracy"]["target"].removeprefix("test accuracy "),
         verdict(t["accuracy"])],
        ["both", "", "", verdict(t["accuracy_within_budget"])],
    ]
    return (f"## fashion_cnn: test accuracy within a {budget}-second training budget\n\n"
            f"Recipe `{r['recipe']}`, overrides: {overrides}{precision}. {machine_line(r)}.\n\n"
            f"{table(['', 'value', 'target', 'result'], rows)}\n\n"
            f"Per epoch (seconds / val accuracy): {epochs}. "
            f"Whole `gk.train` call: {r['wall_seconds']:.1f} s.\n\n"
            + notes(r))


def recipes(r: dict[str, Any]) -> str:
    rows = []
    for row in r["recipes"]:
        if "skipped" in row:
            rows.append([f"`{row['recipe']}`", "skipped", "", "", row["skipped"]])
        else:
            rows.append([f"`{row['recipe']}`", row["metric"], f"{row['value']:.4f}",
                         f"{row['epochs']}", f"{row['train_seconds']:.1f} s"])
    return (f"## recipes: every shipped recipe, as shipped\n\n{machine_line(r)}.\n\n"
            f"{table(['recipe', 'metric', 'value', 'epochs', 'training time'], rows)}\n\n"
            + notes(r))


def image_folder(r: dict[str, Any]) -> str:
    what = {"idx": "`fashion-mnist` (IDX files)", "memory": "`image-folder`, in memory",
            "stream": "`image-folder`, streamed"}
    rows = [[what.get(v["variant"], v["variant"]), f"{v['build_seconds']:.1f} s",
             f"{v['median_epoch_seconds']:.2f} s", f"{v['test_accuracy']:.4f}"] for v in r["variants"]]
    return (f"## image_folder: Fashion-MNIST as {r['files']:,} PNG files, in memory vs streamed\n\n"
            f"Recipe `{r['recipe']}`, {r['epochs']} epochs each. {machine_line(r)}.\n\n"
            f"{table(['data', 'build data set', 'median epoch', 'test accuracy'], rows)}\n\n"
            f"In-memory folder epoch / IDX epoch: {r['memory_over_idx']:.2f}x; streamed epoch / "
            f"in-memory epoch: {r['stream_over_memory']:.1f}x. Writing the PNG files took "
            f"{r['write_seconds']:.1f} s.\n\n"
            + notes(r))


def series(r: dict[str, Any]) -> str:
    rows = [[f"`{row['recipe']}`", f"{row['test_mase']:.3f}", f"{row['persistence_mase']:.3f}",
             f"{row['seasonal-naive_mase']:.3f}", f"{row['epochs']} (best {row['best_epoch']})",
             f"{row['train_seconds']:.1f} s", verdict(r["targets"][row["recipe"]])] for row in r["recipes"]]
    head = ["recipe", "test MASE", "persistence", "seasonal-naive", "epochs", "training time",
            "beats both"]
    return (f"## series: the sunspots recipes against the naive forecasts\n\n{machine_line(r)}.\n\n"
            f"{table(head, rows)}\n\n"
            "MASE: test MAE over the training part's in-sample seasonal-naive (11-year) MAE; "
            "all three forecasters are scored on the same test windows (1947-2008).\n\n"
            + notes(r))


def adding(r: dict[str, Any]) -> str:
    rows = [[f"`{v['variant']}` ({v['model']}, {v['n_params']:,} parameters)", f"{v['test_mse']:.4f}",
             f"{v['baseline_mean_mse']:.4f}", f"{v['baseline_linear_mse']:.4f}",
             f"{v['epochs']} (best {v['best_epoch']})", f"{v['train_seconds']:.1f} s"]
            for v in r["variants"]]
    head = ["variant", "test MSE", "predict-the-mean", "linear regression", "epochs",
            "training time"]
    t = r["targets"]["lstm"]
    return (f"## adding: vanilla RNN vs LSTM on the {r['length']}-step adding problem\n\n"
            f"Recipe `{r['recipe']}` as shipped. {machine_line(r)}.\n\n"
            f"{table(head, rows)}\n\n"
            f"Target: {t['target']}: {verdict(t)}. Predicting the mean scores 1/6 = 0.167 in "
            "expectation; both baselines are scored on the same test sequences.\n\n"
            + notes(r))


def wordnet_bert(r: dict[str, Any]) -> str:
    s = r["speed"]
    g, p = s["gradkit"], s["plain_hf_loop"]
    head = ["loop", "epoch seconds", "test accuracy (same 2,000 glosses)"]
    rows = [["gradkit `wordnet-bert`", f"{g['epoch_seconds']:.1f} s", f"{g['test_accuracy']:.4f}"],
            ["plain Hugging Face loop", f"{p['epoch_seconds']:.1f} s", f"{p['test_accuracy']:.4f}"]]
    out = (f"## wordnet_bert: MiniLM-L6 fine-tuning against a plain Hugging Face loop\n\n"
           f"{machine_line(r)}.\n\nPart 1: one epoch on the same {s['train_examples']:,} glosses "
           f"(batch {s['batch_size']}, max_length {s['max_length']}): gradkit is "
           f"{s['speedup']:.2f}x faster.\n\n{table(head, rows)}\n\n")
    if "full" in r:
        f = r["full"]
        out += (f"Part 2: the recipe as shipped on {f['train_examples']:,} glosses: test accuracy "
                f"{f['test_accuracy']:.4f} against TF-IDF + logistic regression "
                f"{f['tfidf_logreg_accuracy']:.4f}, after {f['epochs']} epochs of "
                + ", ".join(f"{x:.0f} s" for x in f["epoch_seconds"]) + ".\n\n")
    rows = [[name, t["target"], verdict(t)] for name, t in r.get("targets", {}).items()]
    return out + table(["target", "goal", "result"], rows) + "\n\n" + notes(r)


def fashion_gan_plain(r: dict[str, Any]) -> str:
    p, g, q = r["plain"], r["gradkit"], r["plain"]["fid"]
    hist = q["class_histogram"]
    head = ["loop", "median epoch seconds", "training seconds", f"FID (n={q['n']:,})",
            "classes covered"]
    rows = [["plain tutorial loop (`DataLoader(ToTensor, Normalize)`)",
             f"{p['median_epoch_seconds']:.2f}", f"{p['train_seconds']:.1f}", f"{q['fid']:.2f}",
             f"{hist['classes_covered']}/{len(hist['counts'])}"]]
    if g.get("available"):
        gq = g["fid"]
        rows.append(["gradkit `fashion-gan`", f"{g['median_epoch_seconds']:.2f}",
                     f"{g['train_seconds']:.1f}", f"{gq['fid']:.2f}" if "fid" in gq else "",
                     f"{gq['class_histogram']['classes_covered']}/10" if "fid" in gq else ""])
    rows.append(["real train vs real test (the floor)", "", "", f"{q['fid_floor']:.2f}", ""])
    c = q["classifier"]
    gradkit = (f"gradkit's speed-up: {r['speedup']:.2f}x (target {r['targets']['speedup']['target']}: "
               f"{verdict(r['targets']['speedup'])})." if g.get("available") else
               f"gradkit: {g['reason']}.")
    return (f"## fashion_gan_plain: the articles' MLP GAN as a plain PyTorch loop\n\n"
            f"{r['epochs']} epochs, batch {r['batch_size']}, Adam 2e-4 (0.5, 0.999), BCE. "
            f"{machine_line(r)}.\n\n{table(head, rows)}\n\n{gradkit} FID in the penultimate "
            f"features ({q['feature_dim']}) of the reference classifier `{c['dir']}` "
            f"({c['recipe']} {' '.join(c['overrides'])}; test accuracy {c['test_accuracy']:.4f}).\n\n"
            + notes(r))


def generative(r: dict[str, Any]) -> str:
    head = ["recipe", "epochs", "training time", f"FID (n={r['runs'][0]['fid_n']:,})", "floor",
            "classes covered", "test negative ELBO (nats)"]
    rows = []
    for run in r["runs"]:
        nelbo = run["test"].get("test/nelbo")
        stop = " (time limit)" if run.get("stop_reason") else ""
        rows.append([f"`{run['recipe']}`", f"{run['epochs']}{stop}", f"{run['train_seconds']:.1f} s",
                     f"{run['fid']:.2f}", f"{run['fid_floor']:.2f}", f"{run['classes_covered']}/10",
                     f"{nelbo:.1f}" if nelbo is not None else ""])
    goals = [[name, t["target"], f"{t['value']:.3f}", verdict(t)] for name, t in r["targets"].items()]
    first = r["runs"][0]
    return (f"## generative: DCGAN vs MLP GAN at equal time, conv VAE vs MLP VAE\n\n{machine_line(r)}.\n\n"
            f"{table(head, rows)}\n\n{table(['target', 'goal', 'value', 'result'], goals)}\n\n"
            f"FID in the features of `{first['classifier_run']}` (test accuracy "
            f"{first['classifier_accuracy']:.4f}).\n\n" + notes(r))


def rl_cartpole(r: dict[str, Any]) -> str:
    def num(x: float | None, spec: str = ".1f") -> str:
        return "" if x is None else format(x, spec)

    p = r["protocol"]
    names = {"gradkit-ppo": "gradkit `cartpole-ppo`", "gradkit-dqn": "gradkit `cartpole-dqn`",
             "sb3-ppo": "Stable-Baselines3 PPO (RL Zoo)", "sb3-dqn": "Stable-Baselines3 DQN (RL Zoo)"}
    rows = []
    for name, a in r["cartpole"].items():
        runs = [x for x in r["runs"] if x["name"] == name]
        per_seed = ", ".join(f"{x['seconds']:.1f} s / {x['steps'] // 1000}k" if x["solved"]
                             else f"unsolved ({x['train_steps'] // 1000}k, eval {x['final_eval_mean']:.0f})"
                             for x in runs)
        rows.append([names.get(name, name), f"{a['solved']}/{a['of']}",
                     num(a["median_seconds"]), num(a.get("p90_seconds")), num(a["median_steps"], ",.0f"),
                     f"{runs[0]['step_cap']:,}" if runs else "", per_seed])
    goals = [[name, t["target"], "" if t["value"] is None else
              (str(t["value"]) if isinstance(t["value"], int) else f"{t['value']:.3f}"), verdict(t)]
             for name, t in r["targets"].items()]
    others = [[f"`{o['recipe']}`", str(o["seed"]), f"{o['final_eval_mean']:.1f}",
               f"{o.get('best_eval_mean', o['final_eval_mean']):.1f}", f"{o['random_mean']:.1f}",
               "yes" if o["above_random"] else "**no**",
               "" if o.get("reached_threshold") is None or o.get("threshold") is None else
               ("yes" if o["reached_threshold"] else "**no**"), f"{o['train_steps']:,}",
               f"{o['train_seconds']:.1f} s"]
              for o in r["others"]]
    profiles = [f"- {names.get(name, name)}: " + " · ".join(
                    f"{k} {v['us_per_step']:.0f} us ({100 * v['share']:.0f}%)" for k, v in a["profile"].items())
                for name, a in r["cartpole"].items() if a.get("profile")]
    profile = ("Where gradkit's training time went, per env step over all its seeds (act: the "
               "network choosing actions; env: stepping the envs and storing the transitions; "
               "update: the gradient steps; evaluation; checkpoint: metrics and checkpoints):\n\n"
               + "\n".join(profiles) + "\n\n") if profiles else ""
    seeds = r.get("seeds", {})
    caveat = ("" if r.get("comparable") else
              "Not the issue's protocol (`--quick`, other seeds or a subset of runs): indicative only.\n\n")
    if seeds:
        caveat += (f"Seeds {span(seeds['used'])} ({len(seeds['used'])}): {seeds['role']}"
                   + (f"; gradkit overrides {', '.join(r['gradkit_overrides'])}" if r.get("gradkit_overrides") else "")
                   + f". Recipes are chosen on seeds {span(seeds['tuning_seeds'])} only; the figures quoted "
                   f"are from seeds {span(seeds['report_seeds'])}.\n\n")
    return (f"## rl_cartpole: PPO and DQN vs Stable-Baselines3 on CartPole-v1\n\n{machine_line(r)}.\n\n"
            f"{caveat}Solved: deterministic evaluation mean of {p['eval_episodes']} episodes >= "
            f"{p['threshold']:g}, evaluated every {p['eval_every']['ppo']:,} (PPO) / "
            f"{p['eval_every']['dqn']:,} (DQN) env steps on the same episodes for both libraries; "
            f"seconds {p['seconds']}; {p['torch_threads']} torch thread, {p['device']}.\n\n"
            f"{table(['agent', 'solved', 'median seconds', '90th pct seconds', 'median steps', 'step cap', 'per seed (seconds / steps)'], rows)}\n\n"
            f"{table(['target', 'goal', 'value', 'result'], goals)}\n\n"
            + profile
            + (f"Other RL recipes as shipped, against the random policy on the same "
               f"evaluation episodes:\n\n{table(['recipe', 'seed', 'final eval mean', 'best eval mean', 'random policy', 'above random', 'reached threshold', 'steps', 'training time'], others)}\n\n"
               if others else "")
            + notes(r))


def transfer(r: dict[str, Any]) -> str:
    names = {"pretrained": "ImageNet weights, frozen phase then fine-tuned (the recipe)",
             "pretrained_probe": "ImageNet weights, frozen phase only (linear probe)",
             "random": "random init, trained the same way",
             "random_all_layers": "random init, every layer from epoch 1",
             "fashion_cnn": "`fashion-cnn` on the same images, for scale"}
    rows = [[names.get(a["arm"], a["arm"]), f"{a['test_accuracy']:.4f}", str(a["epochs"]),
             f"{a['train_seconds']:.1f} s", ", ".join(f"{v:.2f}" for v in a["val_accuracy"])]
            for a in r["arms"].values() if "arm" in a]
    probe = r["arms"]["linear_probe"]
    rows += [[f"logistic regression on {what} features", f"{probe[key]:.4f}", "", "", ""]
             for what, key in (("ImageNet", "imagenet"), ("random (BN recalibrated)", "random_bn_recalibrated"))]
    goals = [[name, t["target"], f"{t['value']:+.4f}", verdict(t)] for name, t in r["targets"].items()]
    quick = "`--quick` smoke run: not the benchmark's protocol.\n\n" if r.get("quick") else ""
    return (f"## transfer: EfficientNet-Lite0 on 1,000 Fashion-MNIST images, ImageNet vs random init\n\n"
            f"{machine_line(r)}.\n\n{quick}"
            f"{table(['arm', 'test accuracy (10,000)', 'epochs', 'training time', 'val accuracy per epoch (100 images)'], rows)}\n\n"
            f"{table(['target', 'goal', 'difference', 'result'], goals)}\n\n" + notes(r))


SECTIONS = {"transfer": transfer, "rl_cartpole": rl_cartpole, "wordnet_bert": wordnet_bert, "generative": generative, "fashion_mlp": fashion_mlp, "fashion_cnn": fashion_cnn, "recipes": recipes,
            "image_folder": image_folder, "series": series, "adding": adding,
            "fashion_gan_plain": fashion_gan_plain}


def explain(r: dict[str, Any]) -> str:
    rows = [[x["recipe"], f"{x['explain_seconds']:.2f}", f"{x['attribution_seconds']:.2f}",
             f"{x['section_seconds']:.2f}", f"{x['wall_seconds']:.1f}",
             verdict(r["targets"][f"{x['recipe']}_adds_little"])] for x in r["runs"]]
    return (f"## explain: seconds the end-of-run explanations add\n\n{machine_line(r)}.\n\n"
            + table(["recipe", "explanations (s)", "of which attributions (s)", "report section (s)",
                     "whole run (s)", "<= 2 s"], rows) + "\n\n" + notes(r))


SECTIONS["explain"] = explain  # kept apart from the table above so that merges stay easy


def distributed(r: dict[str, Any]) -> str:
    names = {"one_process_2_threads": "one process, 2 threads", "one_process_1_thread":
             "one process, 1 thread", "two_ranks_1_thread": "2 DDP ranks (`--nproc 2`), 1 thread each"}
    rows = [[names.get(k, k), f"{a['median_epoch_seconds']:.2f}", f"{a['median_samples_per_s']:,.0f}",
             f"{a['median_wall_seconds']:.1f}", ", ".join(f"{x:.4f}" for x in a["test_accuracy"])]
            for k, a in r["arms"].items()]
    reduce = [[f"{x['floats']:,d}", f"{x['bytes'] / 1e6:.3g} MB", f"{x['seconds'] * 1e3:.3f}",
               f"{x['bus_gb_per_s']:.2f}"] for x in r["allreduce"]]
    a = r["step_arithmetic"]
    quick = "`--quick` smoke run: not the benchmark's protocol.\n\n" if r.get("quick") else ""
    return (f"## distributed: fashion-mlp on one process vs two DDP ranks\n\n{machine_line(r)}.\n\n{quick}"
            f"{table(['arm', 'epoch seconds (median)', 'samples/s', 'wall seconds', 'test accuracy'], rows)}\n\n"
            f"Two ranks vs one process with 2 threads: **{r['speedup_two_ranks_vs_one_process_2_threads']:.2f}x**.\n\n"
            f"gloo all-reduce between two local ranks:\n\n"
            f"{table(['float32 elements', 'size', 'ms per call', 'bus GB/s'], reduce)}\n\n"
            f"fashion-mlp's gradient is {a['gradient_floats']:,d} floats; an all-reduce of "
            f"{a['nearest_size']:,d} takes {a['allreduce_share_of_a_one_thread_step']:.0%} of a "
            f"1-thread training step ({a['one_thread_seconds_per_step'] * 1e3:.2f} ms).\n\n" + notes(r))


SECTIONS["distributed"] = distributed  # kept apart from the table above so that merges stay easy


def serve_load(r: dict[str, Any]) -> str:
    rows = [[s["payload"], str(s["clients"]), f"{s['requests']:,}", f"{s['seconds']:.1f}",
             f"{s['throughput_rps']:.1f}", f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}", str(s["errors"])]
            for s in r["scenarios"]]
    goals = [[t["target"], str(t["value"]), verdict(t)] for t in r["targets"].values()]
    quick = "`--quick` smoke run: not the benchmark's protocol.\n\n" if r.get("quick") else ""
    h = r.get("heavy")
    heavy = (f"\n\nOne heavy request ({h['payload']}): answered {h['heavy_status']} in "
             f"{h['heavy_seconds']} s; meanwhile {h['probes']} `/health` probes waited p50 "
             f"{h['probe_p50_ms']} ms, max {h['probe_max_ms']} ms (images decode off the event loop)."
             if h else "")
    b = r.get("batching")
    if b:
        rows_b = [[row["scenario"], ", ".join(f"{v:.0f}" for v in row["off_rps"]),
                   ", ".join(f"{v:.0f}" for v in row["on_rps"]),
                   f"{row['ratio_on_off_mean']:.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"]
                  for row in b["rows"]]
        heavy += (f"\n\nRequest batching ({b['settings']}), {b['rounds']} rounds alternated on fresh "
                  "servers, requests/s per round:\n\n"
                  + table(["scenario", "off", "on", "on/off per round: mean (min-max)"], rows_b))
    return (f"## serve_load: gradkit serve under concurrent clients (loopback)\n\n{machine_line(r)}.\n\n"
            f"{quick}{r['server']}; model {r['model']}; per scenario at most "
            f"{r['request_budget']:,} requests or {r['seconds_budget']:g} s.\n\n"
            + table(["payload", "clients", "requests", "seconds", "requests/s", "p50 ms", "p99 ms",
                     "errors"], rows) + heavy + "\n\n" + table(["goal", "value", "result"], goals)
            + "\n\n" + notes(r))


SECTIONS["serve_load"] = serve_load  # kept apart from the table above so that merges stay easy


def rl_minatar(r: dict[str, Any]) -> str:
    rows = [[f"`{x['recipe']}`", str(x["seed"]), f"{x['steps']:,}", f"{x['train_seconds']:.0f}",
             f"{x['steps_per_second']:.0f}", f"{x['random_mean_return']:.2f}",
             f"{x['final_mean_return']:.2f}", f"{x['best_mean_return']:.2f}",
             "-" if x["best_within_20_min"] is None else f"{x['best_within_20_min']:.2f}"]
            for x in r.get("runs", [])]
    parts = [f"## rl_minatar: deep RL from pixels on {r['env']}\n\n{machine_line(r)}.\n"]
    if r.get("quick"):
        parts.append("`--quick` smoke run: not the benchmark's protocol.\n")
    if rows:
        parts.append(f"Report seeds {r['report_seeds']} (the settings were chosen on seed(s) "
                     f"{r['tuning_seeds']}); evaluation: mean return of 20 deterministic episodes. "
                     f"Reference: {r['reference']}.\n")
        parts.append(table(["recipe", "seed", "env steps", "train s", "steps/s", "random",
                            "final eval", "best eval", "best within 20 min"], rows) + "\n")
    speed = r.get("speed") or {}
    if speed:
        srows = [[algo, f"{v['steps']:,}", ", ".join(f"{x:.0f}" for x in v["gradkit_steps_per_s"]),
                  ", ".join(f"{x:.0f}" for x in v["plain_steps_per_s"]), f"{v['ratio_gradkit_to_plain']:.2f}"]
                 for algo, v in speed.items()]
        parts.append("Loop speed, env steps/s (one thread, no evaluation; plain: the same network "
                     "and settings in a CleanRL-style loop written in the benchmark):\n\n"
                     + table(["algorithm", "steps", "gradkit", "plain", "ratio (medians)"], srows) + "\n")
    goals = [[name, t["target"], str(t["value"]), verdict(t)] for name, t in r.get("targets", {}).items()]
    if goals:
        parts.append(table(["target", "goal", "value", "result"], goals) + "\n")
    return "\n".join(parts) + "\n" + notes(r)


SECTIONS["rl_minatar"] = rl_minatar


def fast_failure(r: dict[str, Any]) -> str:
    rows = [[c["case"], f"`{c['command']}`", f"{c['median_s']:.2f}", f"{c['max_s']:.2f}",
             "yes" if c["config_mistake"] else ""] for c in r["cases"]]
    goals = [[name, t["target"], str(t["value"]), verdict(t)] for name, t in r["targets"].items()]
    return (f"## fast_failure: commands that train nothing\n\n{machine_line(r)}.\n\nWhole `gradkit` "
            f"processes, median of {r['repeats']} runs each (interpreter start included).\n\n"
            + table(["case", "command", "median s", "max s", "config mistake"], rows) + "\n\n"
            + table(["case", "goal", "value", "result"], goals) + "\n")


def overhead(r: dict[str, Any]) -> str:
    names = sorted({k for c in r["cases"] for k in c["phases"]}, key=lambda k: min(
        list(c["phases"]).index(k) for c in r["cases"] if k in c["phases"]))
    rows = [[c["case"], f"{c['wall_s_median']:.1f}", f"{c['train_seconds']:.1f}",
             f"{c['fixed_s_median']:.1f}" if "fixed_s_median" in c else "",
             f"{c['first_line_s_median']:.2f}" if "first_line_s_median" in c else "",
             "" if c["start_and_imports_s"] is None else f"{c['start_and_imports_s']:.1f}",
             *[f"{c['phases'][k]:.2f}" if k in c["phases"] else "" for k in names],
             "" if c["peak_rss_mb"] is None else f"{c['peak_rss_mb']:,.0f}"] for c in r["cases"]]
    goals = [[name, t["target"], str(t["value"]), verdict(t)] for name, t in r["targets"].items()]
    several = r.get("parent")
    parent = (f"\n\n{several['case']} ({several['children']} children in one process): "
              f"{several['wall_s']:.1f} s of wall for {several['children_train_seconds']:.1f} s of the "
              f"children's training, {several['ratio']}x ({several['per_child_fixed_s']:.2f} s per child "
              "beyond its training)." if several else "")
    return (f"## overhead: the fixed cost of a run\n\n{machine_line(r)}.\n\nWhole `gradkit train` "
            f"processes (the fastest of {r['cases'][0]['repeats']} for the phases; wall, fixed cost "
            "and first line are medians), seconds; the phases are what run.json records, training "
            "loop = `train_seconds`, fixed cost = wall - training loop.\n\n"
            + table(["run", "wall", "training loop", "fixed cost", "first line", "start + imports",
                     *names, "peak MB"], rows)
            + parent + "\n\n" + table(["run", "goal", "value", "result"], goals) + "\n")


SECTIONS["overhead"] = overhead
SECTIONS["fast_failure"] = fast_failure  # kept apart from the table above so that merges stay easy


def generic(r: dict[str, Any]) -> str:
    """A benchmark without its own section still shows its targets."""
    rows = [[name, t["target"], verdict(t)] for name, t in r.get("targets", {}).items()]
    return (f"## {r['benchmark']}\n\n{machine_line(r)}.\n\n"
            f"{table(['target', 'goal', 'result'], rows)}\n")


def render(results: list[dict[str, Any]]) -> str:
    parts = ["# Benchmark results\n",
             "Generated by `benchmarks/summarize.py` from `benchmarks/results/*.json`; "
             "do not edit by hand.\n"]
    for r in results:
        parts.append(SECTIONS.get(r["benchmark"], generic)(r))
    if not results:
        parts.append("No results yet.\n")
    parts.append(HOW_TO_RERUN)
    return "\n".join(parts)


def load_results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate benchmarks/RESULTS.md from the "
                                                 "JSON files in benchmarks/results/.")
    parser.add_argument("--results", type=Path, default=_bench.RESULTS_DIR,
                        help="folder of result JSON files (default benchmarks/results)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md",
                        help="markdown file to write (default benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    _bench.write_text(args.out, render(load_results(args.results)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

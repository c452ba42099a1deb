"""The report's section for federated runs (gradkit/federated): the global model's accuracy per
round beside the centralised baseline, each client's label distribution, the federation's
settings and, with differential privacy, its parameters and (epsilon, delta)."""
from __future__ import annotations

import json

import numpy as np
from matplotlib import colormaps

from gradkit.report.plots import BEST_COLOR, TRAIN_COLOR, VAL_COLOR, _figure, figure_uri
from gradkit.report.rundir import RunData, fmt_num
from gradkit.report.sections import figure, note, section, table


def _info(run: RunData) -> dict:
    path = run.run_dir / "artifacts" / "federated.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def accuracy_per_round(run: RunData) -> str | None:
    """Test (and val) accuracy of the global model after each round; round 0 is the initial
    model; the centralised baseline's test accuracy is a dashed line."""
    rounds, test = run.series("test/accuracy")
    if not len(rounds):
        return None
    fig = _figure((6.4, 3.6))
    ax = fig.subplots()
    ax.plot(rounds, test, "o-", ms=3, color=TRAIN_COLOR, label="global model, test")
    x, val = run.series("val/accuracy")
    if len(x):
        ax.plot(x, val, "o-", ms=2, lw=1, alpha=0.6, color=VAL_COLOR, label="global model, val")
    base = run.metric("baseline/centralised/accuracy")
    if base is not None:
        epochs = run.metric("baseline/centralised/epochs")
        ax.axhline(base, ls="--", color=BEST_COLOR,
                   label=f"centralised, test ({epochs:g} epochs)" if epochs else "centralised, test")
    ax.set(xlabel="round", ylabel="accuracy", title="global model accuracy per round")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def label_distribution(counts: np.ndarray, names: list[str]) -> str:
    """Stacked bars: one per client, one colour per class, bar length = the client's examples."""
    clients, k = counts.shape
    fig = _figure((6.4, max(2.4, 0.28 * clients + 1.2)))
    ax = fig.subplots()
    colors = [f"C{i}" for i in range(k)] if k <= 10 else list(colormaps["tab20"](np.linspace(0, 1, k)))
    left = np.zeros(clients)
    ys = np.arange(clients)
    for c in range(k):
        ax.barh(ys, counts[:, c], left=left, color=colors[c], label=names[c] if k <= 20 else None)
        left += counts[:, c]
    ax.set(xlabel="training examples", ylabel="client", title="label distribution per client")
    ax.set_yticks(ys, [str(i) for i in ys], fontsize=7 if clients > 20 else 9)
    ax.invert_yaxis()
    if k <= 20:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return figure_uri(fig)


def _settings(run: RunData, info: dict) -> list[list]:
    fed = run.config.get("federated") if isinstance(run.config.get("federated"), dict) else {}
    strategy = str(info.get("strategy") or fed.get("strategy"))
    if info.get("proximal_mu") is not None:
        strategy += f" (mu {fmt_num(info['proximal_mu'])})"
    runtime = info.get("runtime") or {}
    rows = [["Clients", info.get("clients")], ["Sampled per round", info.get("sampled_clients")],
            ["Partition", info.get("partition")], ["Strategy", strategy],
            ["Rounds", info.get("rounds")], ["Local epochs", info.get("local_epochs")],
            ["Runtime", ", ".join(f"{k} {v}" for k, v in runtime.items()) or None]]
    return [r for r in rows if r[1] is not None]


def _privacy(privacy: dict | None) -> str:
    if not privacy:
        return note("No differential privacy (federated.dp_clip / dp_noise unset): client "
                    "updates reach the server unclipped and without noise.")
    eps = privacy.get("epsilon")
    rows = [["Clipping", f"{privacy.get('clipping')}-side, L2 norm {fmt_num(privacy.get('clipping_norm'))}"],
            ["Noise multiplier", privacy.get("noise_multiplier")],
            ["Noise std on the mean update", privacy.get("noise_std")],
            ["Guarantee", f"({fmt_num(eps)}, {privacy.get('delta'):g})-DP, {privacy.get('unit')}, "
                          f"after {privacy.get('rounds')} rounds" if eps is not None else None],
            ["Accounting", privacy.get("accountant")]]
    return "<h3>Differential privacy</h3>\n" + table([r for r in rows if r[1] is not None])


def _comparison(run: RunData) -> str:
    best, base = run.metric("test/accuracy"), run.metric("baseline/centralised/accuracy")
    first = run.metric("federated/round1_test_accuracy")
    parts = []
    if best is not None:
        parts.append(f"The best global model (round {run.run.get('best_epoch')}, chosen by "
                     f"{run.run.get('monitor')}) reaches test accuracy {fmt_num(best)}")
        if first is not None:
            parts[-1] += f", from {fmt_num(first)} after round 1"
    if best is not None and base is not None:
        parts.append(f"centralised training of the same recipe reaches {fmt_num(base)} "
                     f"({best - base:+.3f} for the federation)")
    return note("; ".join(parts) + ".") if parts else ""


def federated(run: RunData) -> str:
    """Settings, accuracy per round, client label distribution, privacy."""
    info = _info(run)
    body = _comparison(run) + table(_settings(run, info))
    panels = [(accuracy_per_round(run), "Global model accuracy after each round (round 0: the "
               "initial weights), and the centralised baseline")]
    counts = np.asarray(info.get("label_counts") or [], dtype=float)
    if counts.ndim == 2 and counts.size:
        names = info.get("class_names") or [str(i) for i in range(counts.shape[1])]
        panels.append((label_distribution(counts, [str(n) for n in names]),
                       "Training examples of each class held by each client"))
    body += '<div class="grid">' + "".join(figure(uri, cap) for uri, cap in panels if uri) + "</div>"
    body += _privacy(info.get("privacy"))
    return section("federated", "Federated learning", body)

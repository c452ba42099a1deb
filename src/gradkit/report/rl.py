"""The report of a reinforcement-learning run: what trained (environment, algorithm, network,
vector env, rollout or replay settings), how far it got against the random policy and the solve
threshold, its curves (returns, then one small panel per loss or schedule, each on its own
scale) and one evaluation episode of the best checkpoint as an animated GIF.

None of the supervised sections apply: an RL run has no data set, epochs or test split."""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from gradkit.report.plots import BEST_COLOR, TRAIN_COLOR, VAL_COLOR, _figure, figure_uri
from gradkit.report.rundir import RunData, as_float, fmt_num
from gradkit.report.sections import (_duration, _join, _tracking, esc, figure, note, section,
                                     table)

LOSS_PREFIXES = ("losses/", "charts/")  # per-evaluation scalars the algorithms log


def _series(run: RunData, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(r["step"], r[key]) for r in run.epochs
            if as_float(r.get(key)) is not None and "step" in r]
    return (np.array([s for s, _ in rows]), np.array([v for _, v in rows])) if rows else (np.array([]),) * 2


def _rl(run: RunData) -> dict[str, Any]:
    rl = run.config.get("rl")
    return rl if isinstance(rl, dict) else {}


# ---------------------------------------------------------------- header and summary


def headlines(run: RunData) -> str:
    """Cards: the best and final evaluation returns against the random policy, and the solve."""
    best, final = run.metric("eval/best_mean_return"), run.metric("eval/mean_return")
    if best is None:
        return note("No evaluation yet: the run stopped before its first evaluation "
                    f"(every {fmt_num(_rl(run).get('eval_every'))} environment steps).")
    random = run.metric("baseline/random_mean_return")
    cards = [_card(best, "best evaluation mean return", random),
             _card(final, "final evaluation mean return", random)]
    steps, threshold = run.metric("eval/steps_to_solve"), run.metric("eval/threshold")
    if steps is not None:
        seconds = run.metric("eval/seconds_to_solve")
        cards.append(_card(steps, f"env steps to solve (mean return ≥ {fmt_num(threshold)}"
                           + (f", {seconds:.1f} s)" if seconds is not None else ")"), None, integer=True))
    return '<div class="cards">' + "".join(cards) + "</div>"


def _card(value: float, label: str, random: float | None, integer: bool = False) -> str:
    shown = fmt_num(int(value) if integer else value)
    vs = ""
    if random is not None:
        delta = value - random
        vs = (f'<ul class="vs"><li class="{"good" if delta > 0 else "bad"}">{esc(fmt_num(value))} vs '
              f"{esc(fmt_num(random))} random policy, {delta:+.2f}</li></ul>")
    return (f'<div class="card"><div class="value">{esc(shown)}</div>'
            f'<div class="label">{esc(label)}</div>{vs}</div>')


def _environment(run: RunData) -> str | None:
    spec, env = run.spec, _rl(run).get("env") or run.spec.get("env")
    if not env:
        return None
    shape = spec.get("obs_shape")
    if spec.get("image") and isinstance(shape, list):
        obs = None
        frames = f"{'x'.join(map(str, shape))} image observations ({spec['image'].upper()})"
    else:
        obs, frames = spec.get("obs_dim"), None
    if spec.get("action") == "discrete":
        actions = f"{spec.get('n_actions')} discrete actions"
    elif spec.get("action"):
        actions = f"a {spec.get('n_actions')}-dimensional continuous action"
    else:
        actions = None
    return _join(env, frames or (f"{obs} observation values" if obs else None), actions)


def _network(rl: dict[str, Any], spec: dict[str, Any]) -> str | None:
    hidden = rl.get("hidden")
    layers = " × ".join(str(h) for h in hidden) if isinstance(hidden, list) and hidden else None
    torso = spec.get("torso") or rl.get("torso")  # run.json: `auto` as resolved for the env
    if torso in (None, "auto", "mlp"):
        net = f"MLP, hidden layers {layers}" if layers else "MLP"
        if spec.get("image"):
            net += " on the flattened frames"
    else:
        channels = rl.get("channels")
        convs = f", convolutions {' × '.join(map(str, channels))}" if channels else ""
        net = f"{torso} convolutional torso{convs}" + (f", then {layers}" if layers else "")
    if rl.get("algo") == "ppo":
        net += ("; one shared torso, linear actor and critic heads" if torso not in (None, "auto", "mlp")
                else "; separate actor and critic networks")
    if rl.get("normalize_obs"):
        net += "; observations normalised (running mean and std)"
    return net


def _algorithm_rows(rl: dict[str, Any]) -> list[list[Any]]:
    """What the algorithm's own keys say, in words; other algorithms list their keys."""
    algo = rl.get("algo")
    n = rl.get("n_envs") or 1
    if algo == "ppo":
        per = (rl.get("n_steps") or 0) * n
        rows = [["Rollout", f"{rl.get('n_steps')} steps × {n} envs = {per:,} transitions per update; "
                            f"{rl.get('update_epochs')} epochs × {rl.get('n_minibatches')} minibatches"],
                ["Advantages", f"GAE, γ {rl.get('gamma')}, λ {rl.get('gae_lambda')}"
                               + (", normalised per minibatch" if rl.get("norm_adv") else "")],
                ["Loss", f"clipped ratio ({rl.get('clip_coef')}), entropy × {rl.get('ent_coef')}, "
                         f"value × {rl.get('vf_coef')}; gradient norm ≤ {rl.get('max_grad_norm')}"
                         + (f"; epochs stop past KL {rl.get('target_kl')}" if rl.get("target_kl") else "")]]
    elif algo == "dqn":
        every = rl.get("target_update_every")
        tau = rl.get("tau")
        target = (f"copied every {fmt_num(every)} env steps" if tau == 1.0 else
                  f"Polyak τ {tau} every {fmt_num(every)} env steps")
        span = (rl.get("exploration_fraction") or 0) * (rl.get("total_steps") or 0)
        rows = [["Replay", f"{fmt_num(rl.get('buffer_size'))} transitions, minibatch "
                           f"{rl.get('batch_size')}; learning starts after {fmt_num(rl.get('learning_starts'))} "
                           f"steps, then {rl.get('gradient_steps')} gradient step(s) every "
                           f"{rl.get('train_frequency')} env steps"],
                ["Target network", target + ("; double-DQN targets" if rl.get("double_dqn") else "")],
                ["Exploration", f"ε {rl.get('start_e')} → {rl.get('end_e')} over the first "
                                f"{fmt_num(int(span))} env steps"],
                ["Loss", f"{rl.get('loss')} TD error, γ {rl.get('gamma')}"
                         + (f"; gradient norm ≤ {rl.get('max_grad_norm')}" if rl.get("max_grad_norm") else "")
                         + ("; rewards clipped to their sign" if rl.get("clip_reward") else "")]]
    else:
        shared = {"algo", "env", "n_envs", "vector", "total_steps", "eval_every", "eval_episodes",
                  "stop_on_solve", "solve_threshold", "normalize_obs", "hidden", "threads", "torso",
                  "channels", "clip_reward", "lr", "anneal_lr"}
        rows = [[f"rl.{k}", v if isinstance(v, (int, float)) else str(v)]
                for k, v in rl.items() if k not in shared]
    if algo == "ppo" and rl.get("clip_reward"):
        rows.append(["Rewards", "clipped to their sign for training; returns shown are raw game scores"])
    return rows


def _solved(run: RunData) -> str:
    threshold, steps = run.metric("eval/threshold"), run.metric("eval/steps_to_solve")
    if threshold is None:
        return "no threshold (the environment defines none; set rl.solve_threshold)"
    if steps is not None:
        seconds = run.metric("eval/seconds_to_solve")
        return (f"yes, at {fmt_num(int(steps))} env steps"
                + (f" ({_duration(seconds)})" if seconds is not None else "")
                + f": evaluation mean ≥ {fmt_num(threshold)}")
    best = run.metric("eval/best_mean_return")
    return f"no: best evaluation mean {fmt_num(best)} against the threshold {fmt_num(threshold)}"


PHASES = {"act": "acting", "env": "env steps and storage", "update": "updates",
          "evaluation": "evaluation", "checkpoint": "metrics and checkpoints"}


def _phases(run: RunData, seconds: float | None) -> str | None:
    """'env steps and storage 41% · updates 37% · ...' of the training time, largest first."""
    spent = {k.split("/", 1)[1]: as_float(v) for k, v in run.metrics.items() if k.startswith("time/")}
    spent = {k: v for k, v in spent.items() if v is not None}
    total = seconds or sum(spent.values())
    if not spent or not total:
        return None
    return " · ".join(f"{PHASES.get(k, k)} {100 * v / total:.0f}%"
                      for k, v in sorted(spent.items(), key=lambda kv: -kv[1]))


def summary(run: RunData) -> str:
    """Environment, algorithm, network, settings, steps, time and the final figures."""
    rl, r = _rl(run), run.run
    steps, total = run.metric("train/steps"), rl.get("total_steps")
    seconds = as_float(r.get("train_seconds")) or run.metric("train/seconds")
    lr = rl.get("lr")
    best, random = run.metric("eval/best_mean_return"), run.metric("baseline/random_mean_return")
    rows = [
        ["Environment", _environment(run)],
        ["Algorithm", str(rl.get("algo") or run.spec.get("algo") or "").upper() or None],
        ["Network", _network(rl, run.spec)],
        ["Vector env", f"{rl.get('n_envs')} environment{'s' if rl.get('n_envs') != 1 else ''} "
                       f"({rl.get('vector')})" if rl.get("n_envs") else None],
        *_algorithm_rows(rl),
        ["Learning rate", None if lr is None else
         f"{fmt_num(lr)}" + (", annealed linearly to 0" if rl.get("anneal_lr") else ", constant")],
        ["Environment steps", None if steps is None else
         f"{fmt_num(int(steps))} of {fmt_num(total)}" if total else fmt_num(int(steps))],
        ["Solved", _solved(run)],
        ["Against random", None if best is None or random is None else
         f"best evaluation mean {fmt_num(best)} vs {fmt_num(random)} for the random policy "
         f"({best - random:+.2f}), over the same {rl.get('eval_episodes')} episode seeds"],
        ["Evaluation", f"{rl.get('eval_episodes')} deterministic episodes every "
                       f"{fmt_num(rl.get('eval_every'))} env steps" if rl.get("eval_every") else None],
        ["Train time", _join(_duration(seconds), f"{steps / seconds:,.0f} env steps/s"
                             if steps and seconds else None)],
        ["Where the time went", _phases(run, seconds)],
        ["Device", _join(r.get("device") or run.env.get("device"),
                         f"{rl.get('threads')} torch thread(s)" if rl.get("threads") else None)],
        ["Seed", run.config.get("seed")],
        ["Stop reason", r.get("stop_reason")],
        ["Error", r.get("error")],
        ["Tracked in", _tracking(r.get("tracking"))],
    ]
    body = table([row for row in rows if row[1] not in (None, "")])
    finals = [[k, v if isinstance(v, (int, float)) or v is None else str(v)]
              for k, v in run.metrics.items() if not k.startswith("time/")]  # in the summary
    if finals:
        body += "\n<h3>Final metrics</h3>\n" + table(finals, ["metric", "value"])
    return section("summary", "Summary", body)


# ---------------------------------------------------------------- curves and the episode


def _returns_panel(run: RunData, key: str, title: str) -> str | None:
    steps, values = _series(run, key)
    if not len(steps):
        return None
    fig = _figure()
    ax = fig.subplots()
    ax.plot(steps, values, color=TRAIN_COLOR, marker=".", label=title)
    if key == "eval/mean_return":
        _, std = _series(run, "eval/std_return")
        if len(std) == len(values):
            ax.fill_between(steps, values - std, values + std, color=TRAIN_COLOR, alpha=0.2)
    baseline = run.metric("baseline/random_mean_return")
    if baseline is not None:
        ax.axhline(baseline, color=BEST_COLOR, linestyle="--", label="random policy")
    threshold = run.metric("eval/threshold")
    if threshold is not None:
        ax.axhline(threshold, color=VAL_COLOR, linestyle=":", label="solved")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_uri(fig)


def _scalar_panels(run: RunData) -> str | None:
    """One small panel per logged loss or schedule (value loss ~100 next to a KL of ~0.01 would
    flatten every other curve on a shared axis), each on its own scale."""
    keys = sorted({k for r in run.epochs for k in r if k.startswith(LOSS_PREFIXES)
                   and as_float(r.get(k)) is not None})
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = _figure((3.0 * cols, 2.1 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    for ax, key in zip(axes, keys):
        steps, values = _series(run, key)
        ax.plot(steps, values, marker=".", color=TRAIN_COLOR)
        ax.set_title(key.split("/", 1)[1].replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(keys):]:
        ax.set_axis_off()
    for ax in axes[-cols:]:
        ax.set_xlabel("environment steps", fontsize=8)
    return figure_uri(fig)


def curves(run: RunData) -> str:
    """Returns against the random policy and the threshold, then the losses and schedules."""
    if not run.epochs:
        return section("curves", "Learning curves",
                       note("No evaluation was recorded, so there are no curves yet."))
    panels = [(_returns_panel(run, "eval/mean_return", "evaluation"),
               "Deterministic evaluation: mean ± std return against environment steps"),
              (_returns_panel(run, "rollout/episodic_return", "training episodes"),
               "Mean return of the training episodes finished between evaluations")]
    body = '<div class="grid">' + "".join(figure(uri, cap) for uri, cap in panels if uri) + "</div>"
    scalars = _scalar_panels(run)
    if scalars:
        body += figure(scalars, "Losses and schedules at each evaluation, one panel each (own scale)")
    return section("curves", "Learning curves", body)


def episode(run: RunData) -> str:
    """artifacts/episode.gif inline (a data URI keeps the report one file), or why it is absent."""
    path = run.run_dir / "artifacts" / "episode.gif"
    if path.is_file():
        uri = "data:image/gif;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        caption = ("One deterministic evaluation episode of the best checkpoint "
                   "(gradkit play RUN_DIR --gif out.gif for more)")
        body = (f'<figure class="episode"><img src="{uri}" alt="{esc(caption)}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>")
    else:
        reason = run.run.get("episode_gif_skipped")
        body = note(f"No episode animation: {reason}" if reason else "No episode animation was recorded.")
    return section("episode", "Episode", body)

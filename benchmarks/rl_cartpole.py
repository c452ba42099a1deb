"""gradkit PPO and DQN against Stable-Baselines3 on CartPole-v1, and the other RL recipes
against the random policy (issues 5 and 21).

Seeds: the recipes are tuned on seeds 0-39 only (`--tuning`, which writes
results/rl_cartpole_tuning.json, never quoted; 0-9 at first, widened to 0-39 because ten seeds
rarely show PPO's slow tail, which a 90th percentile is about); what is reported comes from 20
held-out seeds, 100-119 (the default), that no setting was chosen on. A run during which other
processes used more than 10% of the CPU is not written to results/ (benchmarks/_bench.py).

1. For each seed on CartPole-v1: `cartpole-ppo` and `cartpole-dqn` as shipped (`gk.train`), and
   Stable-Baselines3 PPO and DQN with the RL Zoo's CartPole-v1 hyperparameters, capped at the
   zoo's step budgets. One protocol for all four: every `eval_every` environment steps (the
   gradkit recipe's own `rl.eval_every`, read from its YAML), 20 deterministic episodes from the
   same fixed seeds (`gradkit.rl.common.run_episodes`, so both sides play the very same
   episodes); solved when their mean is >= 475 (CartPole-v1's reward threshold); training stops
   there. Recorded per seed: solved, env steps and wall seconds at the solving evaluation,
   the final evaluation mean.
2. `acrobot-ppo`, `acrobot-dqn`, `pendulum-ppo` as shipped, on the first 5 seeds: final and
   best evaluation means against the random policy's over the same evaluation episodes, and
   for Acrobot-v1 whether the threshold (-100) was reached.

Timing, the same for both libraries: wall seconds from the start of training to the start of
the solving evaluation, INCLUDING the time of the earlier (unsuccessful) evaluations; gradkit's
figure also includes its checkpoint writes after each evaluation (SB3 writes none). Both run on
CPU with torch.set_num_threads(1).

Stable-Baselines3 is a benchmark dependency only, never a gradkit dependency:

    .venv/bin/pip install stable-baselines3

    python benchmarks/rl_cartpole.py              # held-out seeds 100-119: results/rl_cartpole.json
    python benchmarks/rl_cartpole.py --tuning --skip-sb3 --only gradkit-ppo --set rl.eval_every=2048
    python benchmarks/rl_cartpole.py --quick      # 1 seed, tiny step caps, written to /tmp
    python benchmarks/rl_cartpole.py --skip-sb3   # gradkit only (no stable-baselines3 needed)
    python benchmarks/rl_cartpole.py --only gradkit-ppo,sb3-ppo --seeds 0,1
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

ENV = "CartPole-v1"
THRESHOLD = 475.0  # CartPole-v1's spec.reward_threshold
EVAL_EPISODES = 20
THREADS = 1
CARTPOLE = ("gradkit-ppo", "gradkit-dqn", "sb3-ppo", "sb3-dqn")
OTHERS = ("acrobot-ppo", "acrobot-dqn", "pendulum-ppo")
RUNS = CARTPOLE + OTHERS
TUNING_SEEDS = list(range(40))  # what recipes may be chosen on
REPORT_SEEDS = list(range(100, 120))  # what is quoted: no setting was chosen on these


def _recipe_eval_every(algo: str) -> int:
    from gradkit.config import load_recipe  # no torch: the recipe's YAML only

    return int(load_recipe(f"cartpole-{algo}")["rl"]["eval_every"])


# the gradkit recipes' evaluation cadence (cartpole-ppo.yaml, cartpole-dqn.yaml), used for SB3 too
EVAL_EVERY = {"ppo": _recipe_eval_every("ppo"), "dqn": _recipe_eval_every("dqn")}

# RL Zoo (DLR-RM/rl-baselines3-zoo) CartPole-v1 entries, hyperparams/ppo.yml and hyperparams/dqn.yml,
# written out here (the zoo itself is not needed). Checked against the zoo files as remembered and
# against copies of them in public code that cite the zoo; lin_X is the zoo's linear schedule
# X * progress_remaining (1 -> 0 over the run).
ZOO_PPO = {"n_envs": 8, "n_timesteps": 100_000, "policy": "MlpPolicy", "n_steps": 32, "batch_size": 256,
           "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0,
           "learning_rate": "lin_1e-3", "clip_range": "lin_0.2"}
ZOO_DQN = {"n_envs": 1, "n_timesteps": 50_000, "policy": "MlpPolicy", "learning_rate": 2.3e-3,
           "batch_size": 64, "buffer_size": 100_000, "learning_starts": 1000, "gamma": 0.99,
           "target_update_interval": 10, "train_freq": 256, "gradient_steps": 128,
           "exploration_fraction": 0.16, "exploration_final_eps": 0.04,
           "policy_kwargs": {"net_arch": [256, 256]}}

# --quick: the same protocol with tiny caps (checks the plumbing, measures nothing)
# and a threshold of 100 instead of 475, so that the stop-on-solve path runs too
QUICK = {"ppo": {"steps": 4096, "every": 2048}, "dqn": {"steps": 2000, "every": 1000},
         "episodes": 5, "threshold": 100.0, "other_steps": 2048, "other_episodes": 2}

SB3_MISSING = ("stable-baselines3 is not installed. It is a benchmark-only dependency (not a gradkit "
               "one): install it with `.venv/bin/pip install stable-baselines3`, or run this script "
               "with --skip-sb3 to measure gradkit alone.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="gradkit cartpole-ppo / cartpole-dqn vs Stable-Baselines3 PPO / DQN with the RL "
                    "Zoo's CartPole-v1 hyperparameters: wall time and env steps until the "
                    "deterministic evaluation mean of 20 episodes is >= 475, on the held-out seeds "
                    "100-119; and acrobot-ppo, acrobot-dqn, pendulum-ppo against the random policy.",
        epilog="Run it from the repo root on an otherwise idle machine (about 25 minutes on 2 "
               "cores). Needs `pip install stable-baselines3` unless --skip-sb3.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: 1 seed, tiny step caps, 5 evaluation episodes, solved at "
                             "a mean of 100 (not 475); to /tmp")
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds (default: the 20 held-out seeds 100-119; --quick: 0)")
    parser.add_argument("--tuning", action="store_true",
                        help="the tuning seeds 0-39, written to results/rl_cartpole_tuning.json (not quoted)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for the gradkit recipes (a candidate setting; repeatable)")
    parser.add_argument("--skip-sb3", action="store_true", help="leave out the Stable-Baselines3 runs")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated subset of: {', '.join(RUNS)}")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/rl_cartpole.json)")
    args = parser.parse_args(argv)
    args.seeds = ([int(s) for s in args.seeds.split(",")] if args.seeds
                  else [0] if args.quick else TUNING_SEEDS if args.tuning else REPORT_SEEDS)
    args.only = [s.strip() for s in args.only.split(",")] if args.only else list(RUNS)
    unknown = [s for s in args.only if s not in RUNS]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    if args.skip_sb3:
        args.only = [s for s in args.only if not s.startswith("sb3-")]
    return args


def history_of(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{"step": h["step"], "seconds": h["wall_seconds"], "eval_mean": h["eval/mean_return"]}
            for h in map(json.loads, lines) if "eval/mean_return" in h]


def gradkit_run(recipe: str, seed: int, work: Path, overrides: list[str]) -> dict[str, Any]:
    """One recipe as shipped (plus `overrides`) through `gk.train`, read back from its run dir."""
    import gradkit as gk

    overrides = [f"seed={seed}", *overrides]
    start = time.perf_counter()
    run = gk.train(recipe, out=work / f"{recipe}-{seed}", verbose=False, output={"report": False},
                   overrides=overrides)
    m = run.metrics
    return {"library": "gradkit", "recipe": recipe, "env": run.config.rl["env"], "seed": seed,
            "overrides": overrides, "step_cap": run.config.rl["total_steps"],
            "eval_every": run.config.rl["eval_every"], "eval_episodes": run.config.rl["eval_episodes"],
            "solved": m["eval/solved"], "steps": m["eval/steps_to_solve"],
            "seconds": m["eval/seconds_to_solve"], "final_eval_mean": m["eval/mean_return"],
            "best_eval_mean": m["eval/best_mean_return"], "threshold": m["eval/threshold"],
            "random_mean": m["baseline/random_mean_return"], "train_steps": m["train/steps"],
            "train_seconds": m["train/seconds"], "wall_seconds": time.perf_counter() - start,
            "time": {k.split("/", 1)[1]: v for k, v in m.items() if k.startswith("time/")},
            "history": history_of(run.dir)}


def sb3_run(algo: str, seed: int, steps: int, every: int, episodes: int,
            threshold: float) -> dict[str, Any]:
    """SB3 PPO or DQN with the zoo's CartPole-v1 hyperparameters, evaluated and stopped on solve
    by `SolveCallback`, under the same protocol as gradkit's `Session`."""
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from gradkit.rl.common import run_episodes

    class SolveCallback(BaseCallback):
        """Evaluate every `every` env steps on gradkit's evaluation episodes; stop on solve.

        Like gradkit's Session: the clock starts when training starts, is read at the start of
        each evaluation, and keeps running through evaluations."""

        def __init__(self) -> None:
            super().__init__()
            self.history: list[dict[str, Any]] = []
            self.solved: dict[str, Any] | None = None

        def _on_training_start(self) -> None:
            self.start, self.next_eval = time.perf_counter(), every

        def _evaluate(self) -> bool:
            step, elapsed = self.num_timesteps, time.perf_counter() - self.start
            returns = run_episodes(ENV, episodes, seed,
                                   lambda obs: self.model.predict(obs, deterministic=True)[0])
            mean = float(returns.mean())
            self.history.append({"step": step, "seconds": round(elapsed, 3), "eval_mean": mean})
            while self.next_eval <= step:
                self.next_eval += every
            if self.solved is None and mean >= threshold:
                self.solved = {"step": step, "seconds": round(elapsed, 3)}
            return self.solved is None  # False stops training

        def _on_step(self) -> bool:
            return self._evaluate() if self.num_timesteps >= self.next_eval else True

        def _on_training_end(self) -> None:  # the final evaluation at the step cap, as gradkit
            if self.solved is None and (not self.history or self.history[-1]["step"] != self.num_timesteps):
                self._evaluate()
            self.end = time.perf_counter() - self.start

    torch.set_num_threads(THREADS)
    if algo == "ppo":
        zoo = ZOO_PPO
        env = make_vec_env(ENV, n_envs=zoo["n_envs"], seed=seed)
        model = PPO(zoo["policy"], env, n_steps=zoo["n_steps"], batch_size=zoo["batch_size"],
                    gae_lambda=zoo["gae_lambda"], gamma=zoo["gamma"], n_epochs=zoo["n_epochs"],
                    ent_coef=zoo["ent_coef"], learning_rate=lambda p: 1e-3 * p,
                    clip_range=lambda p: 0.2 * p, seed=seed, device="cpu", verbose=0)
    else:
        zoo = ZOO_DQN
        env = make_vec_env(ENV, n_envs=zoo["n_envs"], seed=seed)
        model = DQN(zoo["policy"], env, learning_rate=zoo["learning_rate"], batch_size=zoo["batch_size"],
                    buffer_size=zoo["buffer_size"], learning_starts=zoo["learning_starts"],
                    gamma=zoo["gamma"], target_update_interval=zoo["target_update_interval"],
                    train_freq=zoo["train_freq"], gradient_steps=zoo["gradient_steps"],
                    exploration_fraction=zoo["exploration_fraction"],
                    exploration_final_eps=zoo["exploration_final_eps"],
                    policy_kwargs=zoo["policy_kwargs"], seed=seed, device="cpu", verbose=0)
    callback = SolveCallback()
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=callback)
    env.close()
    solved, last = callback.solved, callback.history[-1]
    return {"library": "sb3", "recipe": f"sb3-{algo} (RL Zoo CartPole-v1)", "env": ENV, "seed": seed,
            "step_cap": steps, "eval_every": every, "eval_episodes": episodes,
            "solved": solved is not None, "steps": solved["step"] if solved else None,
            "seconds": solved["seconds"] if solved else None, "final_eval_mean": last["eval_mean"],
            "best_eval_mean": max(h["eval_mean"] for h in callback.history), "threshold": threshold,
            "train_steps": int(model.num_timesteps), "train_seconds": round(callback.end, 3),
            "wall_seconds": time.perf_counter() - start, "history": callback.history}


def summary(rows: list[dict[str, Any]], n_seeds: int) -> dict[str, Any]:
    solved = [r for r in rows if r["solved"]]
    return {"seeds": [r["seed"] for r in rows], "solved": len(solved), "of": n_seeds,
            "median_seconds": _bench.median([r["seconds"] for r in solved]) if solved else None,
            "median_steps": _bench.median([r["steps"] for r in solved]) if solved else None,
            "seconds": [r["seconds"] for r in rows], "steps": [r["steps"] for r in rows],
            # unsolved seeds at their whole training time: a lower bound on their time to solve
            "median_seconds_lower_bound": _bench.median(
                [r["seconds"] if r["solved"] else r["train_seconds"] for r in rows]) if rows else None,
            # the worst seeds: the 90th percentile of seconds to solve, an unsolved seed counting
            # as never solved (inf), so one failure in ten makes it infinite
            "p90_seconds": percentile([r["seconds"] if r["solved"] else math.inf for r in rows], 90),
            "p90_steps": percentile([r["steps"] if r["solved"] else math.inf for r in rows], 90),
            **({"profile": profile(rows)} if all(r.get("time") for r in rows) else {})}


def profile(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Where gradkit's training time went over these runs: per phase (act, env, update,
    evaluation, checkpoint) the share of the seconds and the microseconds per env step."""
    steps = sum(r["train_steps"] for r in rows)
    spent: dict[str, float] = {}
    for r in rows:
        for phase, sec in r["time"].items():
            spent[phase] = spent.get(phase, 0.0) + sec
    total = sum(spent.values())
    return {phase: {"share": round(sec / total, 3), "us_per_step": round(1e6 * sec / steps, 1)}
            for phase, sec in sorted(spent.items(), key=lambda kv: -kv[1])}


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, linear between order statistics (numpy's default); inf stays inf."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(xs[hi]):
        return math.inf if hi == lo or pos > lo else xs[lo]
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ratio(mine: float | None, ref: float | None) -> float | None:
    if mine is None or ref is None or not ref:
        return None
    return mine / ref if math.isfinite(mine) and math.isfinite(ref) else (math.inf if math.isinf(mine) else 0.0)


def _median_vs_sb3(mine: dict[str, Any], sb3: dict[str, Any], algo: str, limit: float, words: str) -> dict[str, Any]:
    """gradkit's median seconds to solve over SB3's: SB3's median over its solved seeds (the
    smaller, i.e. stricter, reference); when SB3 solved none, its whole training time per seed
    (a lower bound on its time to solve)."""
    ref = sb3["median_seconds"] if sb3["solved"] else sb3["median_seconds_lower_bound"]
    ratio = _ratio(mine["median_seconds"], ref)
    return {"target": f"gradkit {algo} median seconds to solve <= {words} of SB3 {algo}'s (RL Zoo hyperparameters)",
            "value": ratio, "pass": ratio is not None and ratio <= limit}


def _solves(mine: dict[str, Any], algo: str, need: int) -> dict[str, Any]:
    return {"target": f"gradkit {algo} solves >= {need} of {mine['of']} seeds",
            "value": mine["solved"], "pass": mine["solved"] >= need}


def targets(algos: dict[str, dict[str, Any]], others: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 21's targets (on the held-out seeds), for whichever sides were run."""
    out: dict[str, Any] = {}
    g_ppo, s_ppo = algos.get("gradkit-ppo"), algos.get("sb3-ppo")
    g_dqn, s_dqn = algos.get("gradkit-dqn"), algos.get("sb3-dqn")
    if g_ppo:
        out["gradkit_ppo_solves_all"] = _solves(g_ppo, "PPO", g_ppo["of"])
    if g_ppo and s_ppo:
        out["gradkit_ppo_third_of_sb3"] = _median_vs_sb3(g_ppo, s_ppo, "PPO", 1 / 3, "1/3")
        ratio = _ratio(g_ppo["p90_seconds"], s_ppo["p90_seconds"])
        out["gradkit_ppo_p90_half_of_sb3"] = {
            "target": "gradkit PPO 90th percentile of seconds to solve <= 1/2 of SB3 PPO's",
            "value": ratio, "pass": ratio is not None and ratio <= 1 / 2}
    if g_dqn:
        out["gradkit_dqn_solves_19_of_20"] = _solves(g_dqn, "DQN", math.ceil(0.95 * g_dqn["of"]))
    if g_dqn and s_dqn:
        out["gradkit_dqn_half_of_sb3"] = _median_vs_sb3(g_dqn, s_dqn, "DQN", 1 / 2, "1/2")
    acrobot = [r for r in others if r["recipe"] == "acrobot-dqn"]
    if acrobot:
        reached = sum(bool(r["reached_threshold"]) for r in acrobot)
        need = math.ceil(0.8 * len(acrobot))
        out["acrobot_dqn_reaches_threshold"] = {
            "target": f"acrobot-dqn reaches -100 on >= {need} of {len(acrobot)} seeds",
            "value": reached, "pass": reached >= need}
    return out


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def print_summary(result: dict[str, Any]) -> None:
    for name, a in result["cartpole"].items():
        print(f"  {name:<12} solved {a['solved']}/{a['of']}  median {fmt(a['median_seconds'])} s  "
              f"p90 {fmt(a.get('p90_seconds'))} s  median steps {fmt(a['median_steps'], '.0f')}  "
              "per seed (s): " + ", ".join(fmt(s) for s in a["seconds"]))
        if a.get("profile"):
            print(f"  {'':<12} time per env step: " + " · ".join(
                f"{k} {v['us_per_step']:.0f} us ({100 * v['share']:.0f}%)" for k, v in a["profile"].items()))
    for r in result["others"]:
        print(f"  {r['recipe']:<12} seed {r['seed']}: final eval {r['final_eval_mean']:8.1f}  best "
              f"{r['best_eval_mean']:8.1f}  random {r['random_mean']:8.1f}  "
              f"({r['train_steps']} steps, {r['train_seconds']:.1f} s)")
    for name, t in result["targets"].items():
        value = t["value"] if isinstance(t["value"], int) else fmt(t["value"], ".3f")
        print(f"  {name}: {value} ({'PASS' if t['pass'] else 'FAIL'}: {t['target']})")
    if not result["comparable"]:
        print("  (not the issue's protocol: --quick, other seeds or a subset; targets are indicative only)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if any(s.startswith("sb3-") for s in args.only):
        try:
            import stable_baselines3  # noqa: F401
        except ImportError:
            print(SB3_MISSING, file=sys.stderr)
            return 2
    import torch

    torch.set_num_threads(THREADS)
    out = _bench.output_path(args.out, "rl_cartpole_tuning" if args.tuning else "rl_cartpole", args.quick)
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    rows: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-rl-") as tmp:
        work = Path(tmp)
        # seeds outside, libraries inside: load from other processes hits both sides alike
        for seed in args.seeds:
            for name in [n for n in CARTPOLE if n in args.only]:
                library, algo = name.split("-")
                steps = QUICK[algo]["steps"] if args.quick else None
                every = QUICK[algo]["every"] if args.quick else EVAL_EVERY[algo]
                episodes = QUICK["episodes"] if args.quick else EVAL_EPISODES
                threshold = QUICK["threshold"] if args.quick else THRESHOLD
                if library == "gradkit":
                    quick = ([f"rl.total_steps={steps}", f"rl.eval_every={every}",
                              f"rl.eval_episodes={episodes}", f"rl.solve_threshold={threshold}"]
                             if args.quick else [])
                    row = gradkit_run(f"cartpole-{algo}", seed, work, [*quick, *args.set])
                else:
                    zoo = ZOO_PPO if algo == "ppo" else ZOO_DQN
                    row = sb3_run(algo, seed, steps or zoo["n_timesteps"], every, episodes, threshold)
                row["name"] = name
                rows.append(row)
                print(f"  done {name} seed {seed}: "
                      + (f"solved at {row['steps']} steps, {row['seconds']:.1f} s" if row["solved"]
                         else f"not solved in {row['train_steps']} steps ({row['train_seconds']:.1f} s)")
                      + f", final eval {row['final_eval_mean']:.1f}", flush=True)
        for recipe in [n for n in OTHERS if n in args.only]:
            quick = ([f"rl.total_steps={QUICK['other_steps']}", f"rl.eval_every={QUICK['other_steps']}",
                      f"rl.eval_episodes={QUICK['other_episodes']}"] if args.quick else [])
            for seed in args.seeds[:5]:
                row = gradkit_run(recipe, seed, work, quick)
                row["above_random"] = row["final_eval_mean"] > row["random_mean"]
                row["reached_threshold"] = (row["threshold"] is not None
                                            and row["best_eval_mean"] >= row["threshold"])
                others.append(row)
                print(f"  done {recipe} seed {seed}: final eval {row['final_eval_mean']:.1f} (best "
                      f"{row['best_eval_mean']:.1f}) vs random {row['random_mean']:.1f}", flush=True)
    cartpole = {name: summary([r for r in rows if r["name"] == name], len(args.seeds))
                for name in CARTPOLE if any(r["name"] == name for r in rows)}
    comparable = (not args.quick and not args.tuning and not args.set and args.seeds == REPORT_SEEDS
                  and all(n in args.only for n in CARTPOLE))
    result = {"benchmark": "rl_cartpole", "date": _bench.now(), "quick": args.quick,
              "comparable": comparable, "machine": _bench.machine(),
              "conditions": _bench.conditions(quiet, start),
              "protocol": {"env": ENV, "threshold": QUICK["threshold"] if args.quick else THRESHOLD,
                           "eval_episodes": QUICK["episodes"] if args.quick else EVAL_EPISODES,
                           "eval_every": ({a: QUICK[a]["every"] for a in ("ppo", "dqn")} if args.quick
                                          else EVAL_EVERY),
                           "torch_threads": THREADS, "device": "cpu",
                           "seconds": "from the start of training to the start of the solving "
                                      "evaluation, including earlier evaluations"},
              "zoo_hyperparameters": {"ppo": ZOO_PPO, "dqn": ZOO_DQN},
              "seeds": {"role": "tuning (not quotable)" if args.tuning else
                        "held-out" if set(args.seeds) <= set(REPORT_SEEDS) else "other",
                        "tuning_seeds": TUNING_SEEDS, "report_seeds": REPORT_SEEDS, "used": args.seeds},
              "gradkit_overrides": args.set,
              "cartpole": cartpole, "runs": rows, "others": others,
              "targets": targets(cartpole, others),
              "notes": [
                  "Both libraries play the same evaluation episodes (gradkit.rl.common.run_episodes: "
                  "20 deterministic episodes from fixed seeds, never trained on) at the same cadence "
                  f"in env steps ({EVAL_EVERY['ppo']:,} for PPO, {EVAL_EVERY['dqn']:,} for DQN: the gradkit "
                  "recipes'), and stop at the "
                  "first evaluation whose mean is >= 475.",
                  "Seconds to solve run from the start of training to the start of the solving "
                  "evaluation and include earlier evaluations for both libraries; gradkit's also "
                  "include its checkpoint writes after each evaluation. 1 torch thread, CPU, for both.",
                  "Step caps: gradkit recipes as shipped (cartpole-ppo 200k, cartpole-dqn 100k env "
                  "steps); SB3 at the RL Zoo budgets (PPO 100k, DQN 50k; SB3 finishes its last rollout, so "
                  "up to 100,096 and 50,176). Unsolved seeds count in "
                  "`solved` and are left out of the medians.",
                  "gradkit PPO's target compares medians over solved seeds; if SB3 PPO solved no "
                  "seed, its whole training time per seed stands in (a lower bound on its time).",
                  "acrobot-ppo, acrobot-dqn, pendulum-ppo: the first 5 seeds, as shipped; final and "
                  "best evaluation means against the random policy's over the same evaluation "
                  "episodes; Acrobot-v1's threshold is -100.",
              ]}
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

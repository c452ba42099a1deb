"""Deep RL from pixels on MinAtar (issue 20, "Measured"): the pixel DQN and PPO recipes on
held-out seeds against the random policy, and gradkit's loops against plain CleanRL-style loops.

1. Learning: `minatar-breakout-dqn` and `minatar-breakout-ppo` as shipped (`gk.train`, one torch
   thread), on seeds 0, 1, 2 (the recipes' settings were chosen on seed 100 only). Recorded per
   run: the evaluation curve (mean return of 20 deterministic episodes from fixed seeds), the
   final and best evaluation means, the random policy's mean over the same episodes, env steps,
   training seconds and env steps/s. Target: a mean evaluation return >= 10x the random
   policy's within 20 minutes of training, every seed. The published reference is the MinAtar
   paper's DQN curve (Young & Tian 2019, Figure 2): quoted, not rerun.
2. Speed: env steps/s of gradkit's DQN and PPO loops against plain loops written here the way
   CleanRL writes them (same network, same hyperparameters, same game, one thread, no
   evaluation), each for the same number of steps, interleaved, 3 repeats.

    python benchmarks/rl_minatar.py                   # all of it: about 2 hours on 2 idle cores
    python benchmarks/rl_minatar.py --only speed      # the loop comparison (~5 minutes)
    python benchmarks/rl_minatar.py --only dqn --seeds 0
    python benchmarks/rl_minatar.py --game spaceinvaders --only dqn   # the third recipe (~50 min)
    python benchmarks/rl_minatar.py --quick           # tiny budgets, written to /tmp
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

ENV = "MinAtar/Breakout-v1"
RECIPES = {"dqn": "minatar-breakout-dqn", "ppo": "minatar-breakout-ppo"}
# --game spaceinvaders: the third MinAtar recipe (DQN only), learning part only
GAMES = {"breakout": (ENV, RECIPES),
         "spaceinvaders": ("MinAtar/SpaceInvaders-v1", {"dqn": "minatar-spaceinvaders-dqn"})}
SPEED_STEPS = {"dqn": 30_000, "ppo": 40_960}  # per measurement (DQN: after its 5,000 warm-up steps)
REFERENCE = ("MinAtar paper (Young & Tian 2019, Fig. 2): DQN on Breakout, roughly 5-10 mean return "
             "per episode after 1M frames and ~15-20 at 5M, as remembered from the published "
             "curve (not rerun, not re-read here)")
SI_REFERENCE = ("none quoted: the MinAtar paper's Space Invaders curve is not remembered reliably "
                "enough to quote; the random policy's return on the same episodes is the reference")
BUDGET_S = 20 * 60


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="MinAtar Breakout from pixels: gradkit's DQN and "
                                     "PPO recipes on held-out seeds, and their loops' speed.")
    parser.add_argument("--only", choices=("dqn", "ppo", "speed"), action="append",
                        help="run only these parts (repeatable; default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated report seeds")
    parser.add_argument("--game", choices=sorted(GAMES), default="breakout",
                        help="breakout (DQN, PPO, speed) or spaceinvaders (DQN learning only)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets; written to /tmp")
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def learn(algo: str, seed: int, root: Path, quick: bool, recipes: dict[str, str] = RECIPES) -> dict[str, Any]:
    import gradkit as gk
    from gradkit.rundir import RunDir

    over = ["rl.total_steps=3000", "rl.eval_every=1500", "rl.eval_episodes=3",
            "rl.learning_starts=500"] if quick else []
    if quick and algo == "ppo":
        over = ["rl.total_steps=4096", "rl.eval_every=2048", "rl.eval_episodes=3"]
    start = time.perf_counter()
    run = gk.train(recipes[algo], out=root / f"{algo}-s{seed}", verbose=False,
                   overrides=[f"seed={seed}", "output.report=false", *over])
    wall = time.perf_counter() - start
    m = run.metrics
    curve = [{"step": r["step"], "seconds": r["wall_seconds"], "mean_return": round(r["eval/mean_return"], 3)}
             for r in RunDir(run.dir).history()]
    random = m["baseline/random_mean_return"]
    final, best = m["eval/mean_return"], m["eval/best_mean_return"]
    within = [c for c in curve if c["seconds"] <= BUDGET_S]
    return {"algo": algo, "recipe": recipes[algo], "seed": seed, "steps": m["train/steps"],
            "train_seconds": m["train/seconds"], "wall_seconds": round(wall, 1),
            "steps_per_second": round(m["train/steps"] / m["train/seconds"], 1),
            "random_mean_return": random, "final_mean_return": final, "best_mean_return": best,
            "best_within_20_min": max((c["mean_return"] for c in within), default=None),
            "ratio_to_random": round(final / random, 1) if random > 0 else None,
            "curve": curve}


# ---- plain loops, written the way CleanRL writes them (the reference for speed only)

def _net(n_channels: int, n_actions: int, hidden: int = 128):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(n_channels, 16, 3, 1), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(16 * 8 * 8, hidden), nn.ReLU())
            self.head = nn.Linear(hidden, n_actions)
            self.value = nn.Linear(hidden, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x.float().permute(0, 3, 1, 2))

    return Net()


def plain_dqn(steps: int, seed: int) -> float:
    """Env steps/s of a CleanRL-style DQN loop with minatar-breakout-dqn's settings."""
    import gymnasium as gym
    import minatar  # noqa: F401  (registers MinAtar/...)
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    env = gym.make(ENV)
    n_act = env.action_space.n
    q, target = _net(4, n_act), _net(4, n_act)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam([*q.conv.parameters(), *q.head.parameters()], lr=2.5e-4)
    cap = 100_000
    obs_b = np.zeros((cap, 10, 10, 4), bool)
    nxt_b = np.zeros((cap, 10, 10, 4), bool)
    act_b, rew_b, done_b = np.zeros(cap, np.int64), np.zeros(cap, np.float32), np.zeros(cap, np.float32)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    warm, total = 5000, 5000 + steps
    for step in range(total):
        if step == warm:
            start = time.perf_counter()
        # the recipe's schedule for this run's length (exploration_fraction 0.1 of total_steps), as
        # gradkit_speed runs it: mostly greedy steps, so both loops run the network as often
        eps = max(0.1, 1.0 - 0.9 * step / (0.1 * total))
        if rng.random() < eps:
            action = int(rng.integers(n_act))
        else:
            with torch.no_grad():
                action = int(q.head(q(torch.as_tensor(obs[None]))).argmax())
        nxt, reward, term, trunc, _ = env.step(action)
        i = step % cap
        obs_b[i], nxt_b[i], act_b[i], rew_b[i], done_b[i] = obs, nxt, action, reward, term
        obs = nxt
        if term or trunc:
            obs, _ = env.reset()
        if step > warm and step % 4 == 0:
            idx = rng.integers(0, min(step + 1, cap), 32)
            with torch.no_grad():
                nq = target.head(target(torch.as_tensor(nxt_b[idx]))).max(1).values
                y = torch.as_tensor(rew_b[idx]) + 0.99 * nq * (1 - torch.as_tensor(done_b[idx]))
            pred = q.head(q(torch.as_tensor(obs_b[idx]))).gather(1, torch.as_tensor(act_b[idx])[:, None]).squeeze(1)
            loss = F.smooth_l1_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(q.parameters(), 10.0)
            opt.step()
        if step % 1000 == 0:
            target.load_state_dict(q.state_dict())
    return steps / (time.perf_counter() - start)


def plain_ppo(steps: int, seed: int) -> float:
    """Env steps/s of a CleanRL-style PPO loop with minatar-breakout-ppo's settings."""
    import gymnasium as gym
    import minatar  # noqa: F401
    import numpy as np
    import torch
    from torch.distributions import Categorical

    torch.manual_seed(seed)
    n_envs, n_steps = 8, 128
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(ENV)] * n_envs)
    n_act = envs.single_action_space.n
    net = _net(4, n_act)
    opt = torch.optim.Adam(net.parameters(), lr=2.5e-4, eps=1e-5)
    obs_b = torch.zeros(n_steps, n_envs, 10, 10, 4, dtype=torch.bool)
    act_b, logp_b, rew_b, done_b, val_b = (torch.zeros(n_steps, n_envs) for _ in range(5))
    obs, _ = envs.reset(seed=seed)
    done = np.zeros(n_envs)
    start, step = time.perf_counter(), 0
    while step < steps:
        for t in range(n_steps):
            x = torch.as_tensor(obs)
            with torch.no_grad():
                f = net(x)
                dist = Categorical(logits=net.head(f))
                a = dist.sample()
                val_b[t] = net.value(f).squeeze(1)
            obs_b[t], act_b[t], logp_b[t], done_b[t] = x, a, dist.log_prob(a), torch.as_tensor(done)
            obs, r, term, trunc, _ = envs.step(a.numpy())
            rew_b[t], done = torch.as_tensor(r), (term | trunc).astype(np.float32)
            step += n_envs
        with torch.no_grad():
            nv = net.value(net(torch.as_tensor(obs))).squeeze(1)
        adv, last = torch.zeros_like(rew_b), 0
        for t in reversed(range(n_steps)):
            nxt_nd = 1.0 - (torch.as_tensor(done) if t == n_steps - 1 else done_b[t + 1])
            nxt_v = nv if t == n_steps - 1 else val_b[t + 1]
            delta = rew_b[t] + 0.99 * nxt_v * nxt_nd - val_b[t]
            adv[t] = last = delta + 0.99 * 0.95 * nxt_nd * last
        ret = adv + val_b
        b = [v.reshape(n_steps * n_envs, *v.shape[2:]) for v in (obs_b, act_b, logp_b, adv, ret, val_b)]
        for _ in range(4):
            for idx in torch.randperm(n_steps * n_envs).chunk(4):
                f = net(b[0][idx])
                dist = Categorical(logits=net.head(f))
                logp = dist.log_prob(b[1][idx])
                ratio = (logp - b[2][idx]).exp()
                a = b[3][idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                pg = torch.max(-a * ratio, -a * ratio.clamp(0.8, 1.2)).mean()
                v = net.value(f).squeeze(1)
                v_clip = b[5][idx] + (v - b[5][idx]).clamp(-0.2, 0.2)
                vl = 0.5 * torch.max((v - b[4][idx]) ** 2, (v_clip - b[4][idx]) ** 2).mean()
                loss = pg - 0.01 * dist.entropy().mean() + 0.5 * vl
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
                opt.step()
    envs.close()
    return step / (time.perf_counter() - start)


def gradkit_speed(algo: str, steps: int, seed: int, root: Path) -> float:
    """Env steps/s of the gradkit recipe's loop over `steps` steps, with evaluation pushed past the
    end (its single final evaluation excluded from the clock: training seconds only)."""
    import gradkit as gk

    total = steps + (5000 if algo == "dqn" else 0)
    over = [f"seed={seed}", f"rl.total_steps={total}", f"rl.eval_every={total}", "rl.eval_episodes=1",
            "output.report=false"]
    if algo == "dqn":  # time the steps after the warm-up, as the plain loop does: two runs' difference
        # the warm-up run explores on the long run's schedule (epsilon decays over 0.1 * total)
        warm = gk.train(RECIPES[algo], out=root / f"w{time.time_ns()}", verbose=False,
                        overrides=[*over[:1], "rl.total_steps=5000", "rl.eval_every=5000", *over[3:],
                                   f"rl.exploration_fraction={min(1.0, 0.1 * total / 5000)}"])
        run = gk.train(RECIPES[algo], out=root / f"s{time.time_ns()}", verbose=False, overrides=over)
        return steps / (run.metrics["train/seconds"] - warm.metrics["train/seconds"])
    run = gk.train(RECIPES[algo], out=root / f"s{time.time_ns()}", verbose=False, overrides=over)
    return steps / run.metrics["train/seconds"]


def speed(root: Path, quick: bool) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    rows = {}
    for algo in ("dqn", "ppo"):
        steps = 2000 if quick else SPEED_STEPS[algo]
        ours, plain = [], []
        for r in range(1 if quick else 3):
            ours.append(gradkit_speed(algo, steps, r, root))
            plain.append((plain_dqn if algo == "dqn" else plain_ppo)(steps, r))
            print(f"  {algo} speed round {r}: gradkit {ours[-1]:.0f}, plain {plain[-1]:.0f} steps/s", flush=True)
        rows[algo] = {"steps": steps, "gradkit_steps_per_s": [round(v, 1) for v in ours],
                      "plain_steps_per_s": [round(v, 1) for v in plain],
                      "ratio_gradkit_to_plain": round(statistics.median(ours) / statistics.median(plain), 3)}
    return rows


def print_summary(result: dict[str, Any]) -> None:
    for r in result.get("runs", []):
        print(f"  {r['recipe']} seed {r['seed']}: final {r['final_mean_return']:.2f} (best "
              f"{r['best_mean_return']:.2f}, random {r['random_mean_return']:.2f}) after {r['steps']} "
              f"steps, {r['train_seconds']:.0f} s, {r['steps_per_second']:.0f} steps/s")
    for algo, row in result.get("speed", {}).items():
        print(f"  {algo} loop: gradkit {row['gradkit_steps_per_s']} vs plain {row['plain_steps_per_s']} "
              f"steps/s: ratio {row['ratio_gradkit_to_plain']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env, recipes = GAMES[args.game]
    parts = args.only or ["dqn", "ppo", "speed"]
    if args.game != "breakout":
        if set(parts) - set(recipes):
            raise SystemExit(f"--game {args.game}: only --only {' / '.join(recipes)} (a learning run)")
    game = "" if args.game == "breakout" else "_" + args.game
    out = _bench.output_path(args.out, "rl_minatar" + game + ("" if not args.only else "_" + "_".join(parts)),
                             args.quick)
    seeds = [int(s) for s in args.seeds.split(",")]
    quiet, start = _bench.idle_check(), _bench.cpu_counters()
    result: dict[str, Any] = {"benchmark": "rl_minatar", "date": _bench.now(), "quick": args.quick,
                              "machine": _bench.machine(), "env": env,
                              "reference": REFERENCE if args.game == "breakout" else SI_REFERENCE,
                              "tuning_seeds": [100], "report_seeds": seeds,
                              "notes": ["The recipes train with rl.threads=1 (one torch thread); the "
                                        "machine line's torch threads is the process default before "
                                        "the runs."]}
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        runs = []
        for algo in ("dqn", "ppo"):
            if algo in parts:
                for seed in seeds:
                    runs.append(learn(algo, seed, Path(tmp), args.quick, recipes))
                    print_summary({"runs": runs[-1:]})
        if runs:
            result["runs"] = runs
            targets = {}
            for algo in ("dqn", "ppo"):
                mine = [r for r in runs if r["algo"] == algo]
                if mine:
                    ok = all(r["best_within_20_min"] is not None and r["random_mean_return"] > 0
                             and r["best_within_20_min"] >= 10 * r["random_mean_return"] for r in mine)
                    targets[f"{algo}_10x_random_within_20_min"] = {
                        "target": ">= 10x the random policy's mean return within 20 minutes, every seed",
                        "value": [r["best_within_20_min"] for r in mine], "pass": ok}
            result["targets"] = targets
        if "speed" in parts:
            result["speed"] = speed(Path(tmp), args.quick)
    result["conditions"] = _bench.conditions(quiet, start)
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

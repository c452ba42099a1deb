"""Reinforcement learning: shared pieces against oracles, config errors, a short solve, resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("gymnasium")

import gradkit as gk  # noqa: E402
from gradkit import engine
from gradkit.errors import ConfigError  # noqa: E402
from gradkit.rl.buffers import ReplayBuffer  # noqa: E402
from gradkit.rl.envs import RunningMeanStd  # noqa: E402
from gradkit.rl.losses import clipped_surrogate, value_loss  # noqa: E402
from gradkit.rl.returns import gae  # noqa: E402
from gradkit.rundir import RunDir  # noqa: E402
from gradkit import checkpoint  # noqa: E402


def naive_gae(rewards, values, dones, next_value, gamma, lam):
    """Per step: the sum of (gamma*lam)^k * delta_{t+k} up to the end of the episode."""
    T, N = rewards.shape
    nxt = np.vstack([values[1:], next_value[None]])
    delta = rewards + gamma * nxt * (1 - dones) - values
    adv = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, k = 0.0, t
            while k < T:
                total += (gamma * lam) ** (k - t) * delta[k, n]
                if dones[k, n]:
                    break
                k += 1
            adv[t, n] = total
    return adv


def test_gae_matches_a_naive_loop_with_episode_ends():
    rng = np.random.default_rng(0)
    T, N = 37, 5
    r, v = rng.normal(size=(T, N)), rng.normal(size=(T, N))
    d = (rng.random((T, N)) < 0.15).astype(float)
    nv = rng.normal(size=N)
    adv, ret = gae(*(torch.tensor(a) for a in (r, v, d, nv)), gamma=0.97, gae_lambda=0.9)
    np.testing.assert_allclose(adv.numpy(), naive_gae(r, v, d, nv, 0.97, 0.9), rtol=1e-10)
    np.testing.assert_allclose(ret.numpy(), adv.numpy() + v)


def test_clipped_surrogate_on_a_hand_computed_example():
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.7])
    adv = torch.tensor([2.0, 2.0, -1.0, -1.0])
    # max(-A r, -A clip(r, 0.8, 1.2)): [-2.4 (clip wins: -2.4 > -3), -1.0, 1.1, 0.8]
    loss = clipped_surrogate(ratio.log(), adv, clip_coef=0.2)
    assert loss.item() == pytest.approx((-2.4 - 1.0 + 1.1 + 0.8) / 4)


def test_value_loss_clipping_takes_the_larger_error():
    new, old, ret = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([3.0])
    assert value_loss(new, old, ret, None).item() == pytest.approx(0.5 * 1.0)
    assert value_loss(new, old, ret, 0.5).item() == pytest.approx(0.5 * 2.5**2)  # clipped to 0.5


def test_replay_buffer_wraps_around_overwriting_the_oldest():
    buf = ReplayBuffer(5, obs_shape=2)
    for i in range(7):  # two envs per add would work too; one keeps the arithmetic plain
        buf.add(np.full((1, 2), i), np.full((1, 2), i + 1), np.array([i % 2]), np.array([float(i)]),
                np.array([False]))
    assert len(buf) == 5 and buf.full and buf.pos == 2
    assert sorted(buf.rewards.tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert buf.rewards[0] == 5.0 and buf.obs[1, 0] == 6.0  # the two newest overwrote slots 0, 1
    obs, act, rew, nxt, done = buf.sample(64, np.random.default_rng(0))
    assert obs.shape == (64, 2) and torch.all(nxt[:, 0] == obs[:, 0] + 1) and torch.all(rew == obs[:, 0])
    state = buf.state_dict()
    other = ReplayBuffer(5, obs_shape=2)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.rewards, buf.rewards)


def test_a_burst_of_minibatches_is_drawn_at_once_and_gathered_in_bounded_chunks():
    buf = ReplayBuffer(100, obs_shape=3)
    for i in range(100):
        buf.add(np.full((1, 3), i), np.full((1, 3), i + 1), np.array([i % 2]), np.array([float(i)]),
                np.array([i % 7 == 0]))
    for chunk_bytes in (1 << 20, 2 * 4 * 3 * 4):  # all 6 in one gather; one minibatch per gather
        batches = list(buf.minibatches(4, 6, np.random.default_rng(0), chunk_bytes=chunk_bytes))
        assert len(batches) == 6
        for obs, act, rew, nxt, done in batches:  # each row one stored transition, intact
            assert obs.shape == (4, 3) and torch.all(nxt == obs + 1) and torch.all(rew == obs[:, 0])
            assert torch.all(act == obs[:, 0].long() % 2) and torch.all(done == (obs[:, 0] % 7 == 0))
        if chunk_bytes == 1 << 20:
            first = batches
    # the same draws whichever the chunk size: only the gathering differs
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, batches))
    assert len({tuple(b[0][:, 0].tolist()) for b in batches}) == 6  # six different minibatches


def test_running_mean_std_matches_numpy_over_merged_batches():
    rng = np.random.default_rng(1)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 7, 50, 3)]
    rms = RunningMeanStd((4,), epsilon=1e-12)
    for b in batches:
        rms.update(b)
    everything = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean, everything.mean(0), rtol=1e-8)
    np.testing.assert_allclose(rms.var, everything.var(0), rtol=1e-8)
    z = rms.normalize(everything)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)


def _ppo(tmp_path, name, **rl):
    base = {"algo": "ppo", "env": "CartPole-v1", "n_envs": 8, "n_steps": 128, "lr": 1e-3,
            "eval_episodes": 10}
    return gk.train(config_file=None, out=tmp_path / name, verbose=False,
                    rl={**base, **rl}, output={"report": False}, name=name)


def test_short_ppo_run_beats_the_random_policy(tmp_path):
    run = _ppo(tmp_path, "short", total_steps=12288, eval_every=4096)
    m = run.metrics
    assert m["train/steps"] == 12288
    assert m["eval/mean_return"] > 2 * m["baseline/random_mean_return"] + 20
    history = RunDir(run.dir).history()
    assert [r["step"] for r in history] == [4096, 8192, 12288]
    assert {"rollout/episodic_return", "losses/approx_kl", "eval/mean_return"} <= set(history[-1])


def test_resume_restores_normaliser_statistics_and_step_counters(tmp_path):
    run = _ppo(tmp_path, "resume", total_steps=2048, eval_every=1024, normalize_obs=True,
               stop_on_solve=False)
    saved = checkpoint.load(run.dir / "checkpoints" / "last.pt")
    assert saved["global_step"] == 2048 and saved["obs_rms"]["count"] > 2000

    from gradkit.rl.common import Session
    from gradkit.rl.envs import describe
    from gradkit.rl.ppo import PPOConfig

    cfg = PPOConfig.model_validate(run.config.rl)
    session = Session(cfg, 0, RunDir(run.dir), describe("CartPole-v1"), saved, verbose=False)
    np.testing.assert_array_equal(session.rms.mean, saved["obs_rms"]["mean"])
    assert (session.step, session.next_eval, session.baseline) == (2048, 3072, saved["baseline"])

    # pretend the run was meant to be longer, then continue it with --resume's API
    path = run.dir / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["rl"]["total_steps"] = 4096
    path.write_text(yaml.safe_dump(raw))
    resumed = gk.resume(run.dir, verbose=False)
    after = checkpoint.load(run.dir / "checkpoints" / "last.pt")
    assert resumed.metrics["train/steps"] == 4096 and after["global_step"] == 4096
    assert after["obs_rms"]["count"] == pytest.approx(saved["obs_rms"]["count"] + 2048)
    steps = [r["step"] for r in RunDir(run.dir).history()]
    assert steps == [1024, 2048, 3072, 4096]
    # the profile carries on from the checkpoint: twice the steps, more time in every loop phase
    assert all(resumed.metrics[f"time/{k}"] > saved["phases"][k] for k in ("act", "env", "update"))


def test_dqn_runs_and_checkpoints_its_networks(tmp_path):
    run = gk.train(out=tmp_path / "dqn", verbose=False, output={"report": False},
                   rl={"algo": "dqn", "total_steps": 600, "learning_starts": 200, "eval_every": 300,
                       "eval_episodes": 3, "double_dqn": True, "tau": 0.5, "save_buffer": True,
                       "vector": "sync"})
    state = checkpoint.load(run.dir / "checkpoints" / "last.pt")
    assert set(state["models"]) == {"q_net", "target"} and len(state["buffer"]["actions"]) == 600
    m = run.metrics
    assert m["train/steps"] == 600
    # where the time went: every phase charged, together the training time (which stops at the
    # last evaluation's start) plus that evaluation and its checkpoint
    phases = {k.split("/")[1]: v for k, v in m.items() if k.startswith("time/")}
    assert set(phases) == {"act", "env", "update", "evaluation", "checkpoint"}
    assert all(v > 0 for v in phases.values())
    assert 0.9 * m["train/seconds"] <= sum(phases.values()) <= m["train/seconds"] + 2.0


def test_native_vector_env_stores_only_real_transitions(tmp_path):
    """CartPole's native vector env resets on the step after an episode ends; that step is no
    transition. Every stored (obs, next_obs) must obey CartPole's Euler step x' = x + 0.02 x_dot
    (a reset would jump to a fresh state near 0), and a terminated one must end out of bounds."""
    run = gk.train(out=tmp_path / "dqn", verbose=False, output={"report": False},
                   rl={"algo": "dqn", "total_steps": 600, "learning_starts": 200, "eval_every": 600,
                       "eval_episodes": 2, "save_buffer": True, "vector": "native"})
    buf = checkpoint.load(run.dir / "checkpoints" / "last.pt")["buffer"]
    obs, nxt, dones = buf["obs"], buf["next_obs"], buf["dones"].astype(bool)
    assert 450 < len(obs) < 600  # random-ish play ends an episode every ~10-30 steps
    np.testing.assert_allclose(nxt[:, 0], obs[:, 0] + 0.02 * obs[:, 1], atol=1e-5)
    out = (np.abs(nxt[:, 0]) > 2.4) | (np.abs(nxt[:, 2]) > 12 * 2 * np.pi / 360)
    assert dones.sum() > 10 and out[dones].all() and not out[~dones].any()


def test_rollout_buffer_drops_reset_steps():
    from gradkit.rl.buffers import RolloutBuffer

    buf = RolloutBuffer(3, 2, 1, ())
    for t in range(3):
        buf.store(t, obs=torch.tensor([[t], [10.0 + t]]), valid=torch.tensor([t != 1, True]))
    b = buf.flat(torch.zeros(3, 2), torch.zeros(3, 2))
    assert b["obs"].flatten().tolist() == [0.0, 10.0, 11.0, 2.0, 12.0]
    assert all(len(v) == 5 for v in b.values())


def test_rl_report_has_the_results_section(tmp_path):
    run = gk.train(out=tmp_path / "rep", verbose=False,
                   rl={"algo": "ppo", "n_envs": 2, "n_steps": 64, "total_steps": 256,
                       "eval_every": 128, "eval_episodes": 2})
    html = (run.dir / "report.html").read_text()
    assert '<section id="curves">' in html and '<section id="episode">' in html
    assert html.count("data:image/png") >= 3
    try:  # the episode animation needs pygame; without it the report says so instead
        import pygame  # noqa: F401
    except ImportError:
        assert "No episode animation" in html
    else:
        assert (run.dir / "artifacts" / "episode.gif").is_file() and "data:image/gif" in html


def test_async_vector_env_smoke():
    from gradkit.rl.envs import make_vec

    envs = make_vec("CartPole-v1", 2, "async")
    obs, _ = envs.reset(seed=0)
    obs, *_ = envs.step(np.array([0, 1]))
    envs.close()
    assert obs.shape == (2, 4)


@pytest.mark.parametrize("over, message", [
    ({"rl.algo": "ppo", "rl.clip_cof": 0.1}, "did you mean 'rl.clip_coef'"),
    ({"rl.algo": "ppo", "rl.env": "CartPole-v2"}, "CartPole-v1"),
    ({"rl.algo": "dqn", "rl.env": "Pendulum-v1"}, "continuous"),
    ({"rl.algo": "ppx"}, "did you mean 'ppo'"),
    ({"rl.env": "CartPole-v1"}, "rl.algo is required"),
])
def test_config_errors_are_clear(over, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        engine.resolve(overrides=[f"{k}={v}" for k, v in over.items()])


def test_recipes_resolve_with_every_default_filled():
    cfg = engine.resolve("cartpole-ppo")
    assert cfg.rl["algo"] == "ppo" and cfg.rl["gae_lambda"] == 0.95 and cfg.rl["env"] == "CartPole-v1"
    assert engine.resolve("pendulum-ppo").rl["normalize_obs"] is True


def test_env_with_a_missing_dependency_names_the_fix():
    import gymnasium as gym

    def needs_box2d(**_):
        raise gym.error.DependencyNotInstalled('Box2D is not installed, run `pip install "gymnasium[box2d]"`')

    gym.register("GradkitTest/NeedsBox2D-v0", entry_point=needs_box2d)
    try:
        with pytest.raises(ConfigError, match=r"needs a package that is not installed.*gradkit\[rl\]"):
            engine.resolve(overrides=["rl.algo=ppo", "rl.env=GradkitTest/NeedsBox2D-v0"])
    finally:
        del gym.envs.registry["GradkitTest/NeedsBox2D-v0"]

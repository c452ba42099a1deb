"""A saved RL agent: `load_agent`, `gradkit play` against an independent evaluation, GIFs, errors."""
from __future__ import annotations

import re
import shutil
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

gym = pytest.importorskip("gymnasium")

import gradkit as gk  # noqa: E402
from gradkit import config as C  # noqa: E402
from gradkit import engine
from gradkit.cli import app  # noqa: E402
from gradkit.errors import GradkitError  # noqa: E402
from gradkit.rl import load_agent  # noqa: E402
from gradkit.rl.agent import write_episode_gif  # noqa: E402
from gradkit.rl.common import EVAL_SEED  # noqa: E402
from gradkit import checkpoint  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    """A short CartPole PPO run trained with observation normalisation (no report: fast)."""
    out = tmp_path_factory.mktemp("rl") / "ppo"
    return gk.train(out=out, verbose=False, output={"report": False}, seed=3,
                    rl={"algo": "ppo", "n_envs": 4, "n_steps": 128, "lr": 1e-3, "total_steps": 2048,
                        "eval_every": 1024, "eval_episodes": 4, "normalize_obs": True,
                        "stop_on_solve": False})


def naive_returns(agent, seed: int, n: int) -> list[float]:
    """One plain env per episode, the seeds the run's evaluation uses: no vector env, no run_episodes."""
    out = []
    for i in range(n):
        env = gym.make(agent.env_id)
        obs, _ = env.reset(seed=EVAL_SEED + seed * 1000 + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            total, done = total + reward, terminated or truncated
        env.close()
        out.append(total)
    return out


def play(*args):
    result = runner.invoke(app, ["play", *[str(a) for a in args]])
    return result.exit_code, result.output


def test_play_prints_returns_matching_an_independent_evaluation(ppo_run):
    code, out = play(ppo_run.dir, "--episodes", 3, "--seed", 5)
    assert code == 0, out
    printed = [float(v) for v in re.findall(r"episode +\d+: return ([\d.]+)", out)]
    expected = naive_returns(load_agent(ppo_run.dir), 5, 3)
    assert printed == expected
    mean = float(re.search(r"mean return ([\d.]+) ±", out).group(1))
    assert mean == pytest.approx(np.mean(expected), abs=0.05)
    assert "reward threshold 475" in out


def test_play_uses_the_saved_normaliser_frozen(ppo_run):
    agent = load_agent(ppo_run.dir)
    saved = checkpoint.load(ppo_run.dir / "checkpoints" / "best.pt")["obs_rms"]
    np.testing.assert_array_equal(agent.obs_rms.mean, saved["mean"])
    obs = np.random.default_rng(0).normal(size=(16, 4)) * [1.0, 2.0, 0.1, 2.0]
    z = torch.as_tensor((obs - saved["mean"]) / np.sqrt(saved["var"] + 1e-8), dtype=torch.float32)
    expected = agent.networks["agent"].actor(z.clamp(-10, 10)).argmax(-1).numpy()
    np.testing.assert_array_equal(agent.act(obs), expected)
    assert agent.act(obs[0]) == expected[0]  # one observation -> one action
    assert agent.obs_rms.count == saved["count"]  # acting never updates the statistics
    # with the run's own seed and episode count, play repeats the evaluation that chose best.pt,
    # which used these statistics: the same mean
    code, out = play(ppo_run.dir, "--episodes", 4)
    assert code == 0, out
    mean = float(re.search(r"mean return ([\d.]+) ±", out).group(1))
    assert mean == pytest.approx(ppo_run.metrics["eval/best_mean_return"], abs=0.05)


def test_play_gif_is_a_small_multi_frame_animation(ppo_run, tmp_path):
    pytest.importorskip("pygame")
    from PIL import Image

    code, out = play(ppo_run.dir, "--episodes", 1, "--gif", tmp_path / "ep.gif", "--checkpoint", "last")
    assert code == 0, out
    with Image.open(tmp_path / "ep.gif") as gif:
        assert gif.n_frames > 1 and gif.width <= 240 and gif.info.get("loop") == 0
        first_return = float(re.search(r"episode +1: return ([\d.]+)", out).group(1))
        total = 0
        for i in range(gif.n_frames):  # PIL merges identical frames, adding up their delays
            gif.seek(i)
            total += gif.info["duration"]
    # the reset frame, then one per step, at CartPole's own 50 fps (20 ms each)
    assert total == 20 * min(500, int(first_return) + 1)


def test_report_embeds_the_episode_gif_or_says_why_not(ppo_run, tmp_path, monkeypatch):
    pytest.importorskip("pygame")
    from gradkit.report import build_report

    run_dir = tmp_path / "copy"
    shutil.copytree(ppo_run.dir, run_dir)
    assert write_episode_gif(run_dir) is None and (run_dir / "artifacts" / "episode.gif").is_file()
    assert "data:image/gif;base64," in build_report(run_dir).read_text()

    (run_dir / "artifacts" / "episode.gif").unlink()
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if pygame were not installed
    reason = write_episode_gif(run_dir)
    assert "needs pygame" in reason and not (run_dir / "artifacts" / "episode.gif").exists()
    with pytest.raises(GradkitError, match="needs pygame"):
        gk.rl.play(run_dir, episodes=1, gif=tmp_path / "x.gif")
    from gradkit.rundir import RunDir

    RunDir(run_dir).update_info(episode_gif_skipped=reason)
    html = build_report(run_dir).read_text()
    assert "No episode animation" in html and "needs pygame" in html


def test_dqn_agent_loads_and_plays(tmp_path):
    run = gk.train(out=tmp_path / "dqn", verbose=False, output={"report": False},
                   rl={"algo": "dqn", "total_steps": 400, "learning_starts": 100, "eval_every": 400,
                       "eval_episodes": 3})
    agent = load_agent(run.dir, checkpoint="last")
    assert agent.algo == "dqn" and agent.obs_rms is None and set(agent.networks) == {"q_net"}
    assert gk.rl.play(run.dir, episodes=3)["mean"] == pytest.approx(run.metrics["eval/mean_return"])


def test_clear_errors(ppo_run, tmp_path):
    code, out = play(ppo_run.dir, "--episodes", 0)
    assert code == 2 and "--episodes must be at least 1" in out
    code, out = play(ppo_run.dir, "--checkpoint", "final")
    assert code == 2 and "best or last" in out

    broken = tmp_path / "broken"
    shutil.copytree(ppo_run.dir, broken)
    (broken / "checkpoints" / "best.pt").unlink()
    code, out = play(broken)
    assert code == 2 and "checkpoint not found" in out

    classifier = tmp_path / "classifier"  # a supervised run's directory: its config is enough
    classifier.mkdir()
    (classifier / "config.yaml").write_text(C.dump(engine.resolve("digits-mlp")))
    code, out = play(classifier)
    assert code == 2 and "not a reinforcement-learning run" in out

    with pytest.raises(GradkitError, match="gradkit play"):
        gk.load(ppo_run.dir)
    result = runner.invoke(app, ["predict", str(ppo_run.dir), str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "load_agent" in result.output

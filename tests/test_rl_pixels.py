"""Deep RL from pixels: MinAtar grids and Atari screens, their torsos, the replay memory's layout,
short DQN and PPO runs, resume of a pixel agent, play and its GIF, and the refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("gymnasium")
pytest.importorskip("minatar", reason="MinAtar: pip install 'gradkit[rl]'")

import gradkit as gk  # noqa: E402
from gradkit import checkpoint, engine  # noqa: E402
from gradkit.errors import ConfigError  # noqa: E402
from gradkit.rl.buffers import ReplayBuffer  # noqa: E402
from gradkit.rl.envs import describe, make_vec  # noqa: E402
from gradkit.rundir import RunDir  # noqa: E402

BREAKOUT = "MinAtar/Breakout-v1"


def test_minatar_and_atari_observations_are_described_as_images():
    m = describe(BREAKOUT)
    assert (m["obs_shape"], m["obs_dtype"], m["image"], m["action"]) == ((10, 10, 4), "bool", "hwc", "discrete")
    pytest.importorskip("ale_py")
    a = describe("ALE/Pong-v5")  # after gradkit's Atari preprocessing: 4 stacked grey 84x84 frames
    assert (a["obs_shape"], a["obs_dtype"], a["image"], a["n_actions"]) == ((4, 84, 84), "uint8", "chw", 6)
    envs = make_vec("ALE/Pong-v5", 2, "sync")
    obs, _ = envs.reset(seed=0)
    obs, *_ = envs.step(np.zeros(2, np.int64))
    envs.close()
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8 and obs.max() > 0


def test_torsos_are_the_published_ones():
    from gradkit.rl.dqn import DQNConfig, q_network

    minatar = q_network(DQNConfig(env=BREAKOUT, hidden=[128]), describe(BREAKOUT))
    convs = [m for m in minatar.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [(4, 16, (3, 3), (1, 1))]
    linears = [m for m in minatar.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(16 * 8 * 8, 128), (128, 3)]
    x = torch.zeros(5, 10, 10, 4, dtype=torch.bool)  # HWC, as MinAtar gives it
    assert minatar(x).shape == (5, 3)
    spec = {"obs_shape": (4, 84, 84), "obs_dtype": "uint8", "image": "chw", "obs_dim": 4 * 84 * 84,
            "n_actions": 6, "action": "discrete"}
    nature = q_network(DQNConfig(env=BREAKOUT, hidden=[512]), spec)
    convs = [m for m in nature.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [(32, 8, 4), (64, 4, 2), (64, 3, 1)]
    linears = [m for m in nature.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(3136, 512), (512, 6)]
    # uint8 pixels are scaled inside: 255 everywhere reads as 1.0, not 255
    torso = nature[0]
    a = torso(torch.full((1, 4, 84, 84), 255, dtype=torch.uint8))
    b = torso.fc(torso.convs(torch.ones(1, 4, 84, 84)))
    torch.testing.assert_close(a, b)


def test_replay_memory_keeps_frames_in_their_own_dtype_and_refuses_what_cannot_fit(monkeypatch):
    spec = describe(BREAKOUT)
    buf = ReplayBuffer.for_env(100, spec)
    assert buf.obs.dtype == np.bool_ and buf.obs.shape == (100, 10, 10, 4)
    obs = np.random.default_rng(0).random((3, 10, 10, 4)) < 0.1
    buf.add(obs, ~obs, np.array([0, 1, 2]), np.array([1.0, 0.0, 0.0]), np.array([0, 0, 1]))
    o, a, r, n, d = buf.sample(8, np.random.default_rng(1))
    assert o.dtype == torch.bool and o.shape == (8, 10, 10, 4) and torch.equal(n, ~o)
    atari = {"obs_shape": (4, 84, 84), "obs_dtype": "uint8", "image": "chw", "obs_dim": 28224}
    assert ReplayBuffer.bytes_needed(1_000_000, atari) == 1_000_000 * (2 * 28224 + 16)
    import gradkit.rl.buffers as buffers

    monkeypatch.setattr(buffers, "available_memory", lambda: 8 * 2**30)
    with pytest.raises(ConfigError, match=r"rl.buffer_size=1,000,000 .* 4x84x84 uint8 .* 52.6 GiB.*"
                                          r"use rl.buffer_size=121,"):
        ReplayBuffer.check_fits(1_000_000, atari)
    ReplayBuffer.check_fits(100_000, atari)  # 5.3 GiB of 8: fits


@pytest.mark.parametrize("over, message", [
    (["rl.algo=ppo", "rl.torso=nature"], "rl.torso=nature reads images, but CartPole-v1 gives flat"),
    (["rl.algo=ppo", f"rl.env={BREAKOUT}", "rl.normalize_obs=true"], "normalize_obs applies to flat"),
    (["rl.algo=dqn", "rl.channels=[8]"], "rl.channels sets the convolutions"),
    (["rl.algo=dqn", f"rl.env={BREAKOUT}", "rl.buffer_size=2000000000"], "this machine has"),
])
def test_pixel_config_mistakes_are_refused_before_training(over, message):
    with pytest.raises(ConfigError, match=message):
        engine.resolve(overrides=over)


def test_minatar_dqn_trains_checkpoints_resumes_and_plays(tmp_path):
    """A pixel DQN end to end at a small budget: transitions stored as bool grids, updates,
    evaluations, checkpoints; the checkpoint resumes to a longer budget; play and its GIF."""
    rl = {"algo": "dqn", "env": BREAKOUT, "hidden": [32], "total_steps": 600, "learning_starts": 200,
          "train_frequency": 4, "batch_size": 16, "buffer_size": 2000, "eval_every": 300,
          "eval_episodes": 2, "target_update_every": 100, "save_buffer": True}
    run = gk.train(out=tmp_path / "dqn", verbose=False, output={"report": False}, rl=rl)
    state = checkpoint.load(run.dir / "checkpoints" / "last.pt")
    assert state["buffer"]["obs"].dtype == np.bool_ and state["buffer"]["obs"].shape == (600, 10, 10, 4)
    assert run.metrics["train/steps"] == 600 and "losses/td_loss" in RunDir(run.dir).history()[-1]
    path = run.dir / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["rl"]["total_steps"] = 900
    path.write_text(yaml.safe_dump(raw))
    resumed = gk.resume(run.dir, verbose=False)
    assert resumed.metrics["train/steps"] == 900
    assert [r["step"] for r in RunDir(run.dir).history()] == [300, 600, 900]
    from gradkit.rl import play

    out = play(run.dir, episodes=2, gif=tmp_path / "breakout.gif")
    assert len(out["returns"]) == 2
    from PIL import Image

    with Image.open(out["gif"]) as gif:
        assert gif.n_frames > 5 and gif.width >= 200  # a 10x10 grid enlarged, not a 10-pixel GIF


def test_minatar_ppo_short_run_with_a_shared_torso(tmp_path):
    rl = {"algo": "ppo", "env": BREAKOUT, "hidden": [32], "n_envs": 2, "n_steps": 32,
          "total_steps": 256, "eval_every": 128, "eval_episodes": 2, "channels": [8]}
    run = gk.train(out=tmp_path / "ppo", verbose=False, output={"report": False}, rl=rl)
    state = checkpoint.load(run.dir / "checkpoints" / "last.pt")
    keys = set(state["models"]["agent"])
    assert "torso.convs.0.weight" in keys and state["models"]["agent"]["torso.convs.0.weight"].shape[0] == 8
    assert {"actor.0.weight", "critic.0.weight"} <= keys  # one linear head each on the shared torso
    assert run.metrics["train/steps"] == 256


def test_pong_dqn_recipe_smoke(tmp_path):
    """The Atari recipe starts and runs offline for a smoke budget: preprocessing, the frame
    replay memory, one update, one evaluation episode, the episode GIF of the report."""
    pytest.importorskip("ale_py")
    run = gk.train("pong-dqn", out=tmp_path / "pong", verbose=False,
                   overrides=["rl.total_steps=400", "rl.learning_starts=300", "rl.buffer_size=1000",
                              "rl.eval_every=400", "rl.eval_episodes=1", "rl.batch_size=8",
                              "output.explain=false"])
    assert run.metrics["train/steps"] == 400
    history = RunDir(run.dir).history()
    assert "losses/td_loss" in history[-1] and history[-1]["eval/mean_return"] <= 21
    assert (run.dir / "artifacts" / "episode.gif").is_file()
    assert (run.dir / "report.html").is_file()

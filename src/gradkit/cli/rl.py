"""`gradkit play`: a trained agent's deterministic episodes (gradkit/rl/agent.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gradkit.cli.app import app, console, guard


@app.command()
def play(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of an RL run (e.g. from "
                                            "`gradkit train cartpole-ppo`).")],
    episodes: Annotated[int, typer.Option("--episodes", "-n", help="How many episodes.")] = 10,
    seed: Annotated[Optional[int], typer.Option(help="Episode seeds (default: the run's seed, "
                                                "which repeats the run's own evaluation).")] = None,
    gif: Annotated[Optional[Path], typer.Option("--gif", help="Write the first episode as an "
                                                "animated GIF (needs pygame).")] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
) -> None:
    """Evaluate a trained agent: deterministic episodes, their returns, mean ± std.

    Observations are normalised with the statistics saved in the checkpoint (frozen).
    """
    def go() -> None:
        from gradkit.rl.agent import play as play_agent

        out = play_agent(run_dir, episodes, seed, gif, checkpoint)
        console.print(f"{out['algo'].upper()} on {out['env']}, {checkpoint} checkpoint, seed "
                      f"{out['seed']}, deterministic", highlight=False)
        for i, value in enumerate(out["returns"], start=1):
            console.print(f"episode {i:>3}: return {value:.1f}", highlight=False)
        verdict = "" if out["threshold"] is None else (
            f"  ({'reaches' if out['solved'] else 'below'} the reward threshold {out['threshold']:g})")
        console.print(f"mean return {out['mean']:.1f} ± {out['std']:.1f} over {episodes} "
                      f"episodes{verdict}", highlight=False)
        if out["gif"] is not None:
            console.print(f"first episode: {out['gif']}", highlight=False)

    guard(go)

"""Distributed data-parallel training: 2 gloo ranks on the CPU against one process.

The oracle: with the same seed and global batch, two ranks (each half of every batch, DDP
averaging the gradients) end with the weights and metrics of one process, uneven last batch
included. Then failures: a killed rank and a stalled rank are named; a killed run resumes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gradkit as gk
from gradkit.data.base import DataSpec, Split
from gradkit.data.batches import Batches, _EpochBatches, global_batches
from gradkit.distributed import FAULT_ENV, Dist, DistributedError, Placement, placement
from gradkit.distributed.launch import check_nproc
from gradkit.errors import ConfigError

# digits-mlp (no dropout, no batch norm): 1,293 training images, so batches of 100 leave a
# last batch of 93, which two ranks split 47 + 46.
SETTINGS = {"train": {"epochs": 2, "batch_size": 100, "threads": 1}, "optim": {"lr": 0.005},
            "output": {"report": False, "explain": False}}
OVERRIDES = ["train.epochs=2", "train.batch_size=100", "train.threads=1", "optim.lr=0.005",
             "output.report=false", "output.explain=false"]
CLI = [sys.executable, "-m", "gradkit", "train"]
# subprocesses import the gradkit under test, wherever the test runs from
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(gk.__file__).parents[1]),
                                                               os.environ.get("PYTHONPATH")]))}
NOISE = ("time", "epoch_seconds", "samples_per_s")


def _history(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in NOISE}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _weights(run_dir: Path, name: str = "last") -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / f"{name}.pt", weights_only=False)["models"]["model"]


def _files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}


def _assert_same_run(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:  # float32 sums in another order: ~1e-7 per step
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-5, msg=key)
    ha, hb = _history(a), _history(b)
    assert [r["step"] for r in ha] == [r["step"] for r in hb]
    for ra, rb in zip(ha, hb):
        for key in ra:
            assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-6), key
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    for key in ("test/accuracy", "test/loss", "val/accuracy", "val/loss"):
        assert mb[key] == pytest.approx(ma[key], rel=1e-5), key


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    gk.train("digits-mlp", out=out, verbose=False, **SETTINGS)
    return out


def test_two_ranks_end_where_one_process_does_through_a_kill_and_a_resume(
        one_process, tmp_path, monkeypatch):
    # rank 1 SIGKILLs itself at its 16th step: in epoch 2 (13 steps an epoch), after a checkpoint
    monkeypatch.setenv(FAULT_ENV, "1:16:kill")
    with pytest.raises(DistributedError, match=r"rank 1 of 2 .*killed by signal SIGKILL.*--resume"):
        gk.train("digits-mlp", out=tmp_path / "two", verbose=False, nproc=2, **SETTINGS)
    monkeypatch.delenv(FAULT_ENV)
    out = tmp_path / "two"
    assert len(_history(out)) == 1  # epoch 1 was saved before the kill

    # continued by torchrun itself, which runs `gradkit train` on each rank
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    proc = subprocess.run(torchrun + ["-m", "gradkit", "train", "--resume", str(out), "--quiet"],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("test metrics") == 1  # rank 0 prints the results, rank 1 nothing
    info = json.loads((out / "run.json").read_text())
    assert info["world_size"] == 2 and info["samples"]["train"] % 100 == 93
    # the oracle: same weights, training metrics (summed over ranks), validation and test
    _assert_same_run(one_process, out)
    assert json.loads((out / "metrics.json").read_text())["test/accuracy"] > 0.85
    # only rank 0 wrote: the same files as one process, and nothing else anywhere
    assert _files(out) == _files(one_process)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["two"]


def test_a_stalled_rank_is_named_within_the_timeout(tmp_path):
    env = {**ENV, FAULT_ENV: "1:3:stall"}
    proc = subprocess.run(CLI + ["digits-mlp", *OVERRIDES, "train.dist_timeout=5", "--out",
                                 str(tmp_path / "stalled"), "--quiet", "--nproc", "2"],
                          env=env, capture_output=True, text=True, timeout=120)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2, said
    # rank 0 timed out in the gradient all-reduce, then asked who is missing: rank 1
    assert "rank 0 of 2" in said and "train.dist_timeout=5" in said, said
    assert "Rank 1" in said or "rank 1" in said.split("rank 0 of 2", 1)[1], said


def _split(n: int) -> tuple[Split, DataSpec]:
    spec = DataSpec(task="regression", kind="tabular", input_shape=(1,), mean=[0.0], std=[1.0])
    return Split(torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n)), spec


@pytest.mark.parametrize("n,batch,world", [(23, 8, 2), (23, 8, 3), (25, 8, 3), (24, 8, 2), (9, 4, 5)])
def test_ranks_see_disjoint_chunks_of_each_global_batch(n, batch, world):
    split, spec = _split(n)
    one = Batches(split, spec, batch, torch.device("cpu"), shuffle=True, seed=3)
    one.set_epoch(2)
    ranks = []
    for rank in range(world):
        b = Batches(split, spec, batch, torch.device("cpu"), shuffle=True, seed=3, shard=(rank, world))
        b.set_epoch(2)
        ranks.append([y.tolist() for _, y in b])
    kept = global_batches(n, batch, world)
    assert all(len(r) == kept for r in ranks)
    for i, (_, y) in enumerate(one):
        if i == kept:  # a last batch smaller than the world is dropped (a rank would get nothing)
            assert 0 < len(y) < world
            break
        parts = [r[i] for r in ranks]
        assert sum(parts, []) == y.tolist()  # rank order = the one-process order: disjoint, complete
        assert len(y) == one.global_size(i) and max(map(len, parts)) - min(map(len, parts)) <= 1
    # the DataLoader path cuts the same chunks
    streamed = [_EpochBatches(n, batch, True, 3, (rank, world)) for rank in range(world)]
    for s in streamed:
        s.epoch = 2
    assert [list(s) for s in streamed] == ranks


def test_placement_reads_torchrun_then_slurm():
    assert placement({}) is None
    assert placement({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert placement({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}) \
        == Placement(3, 4, 1, 2)
    slurm = {"SLURM_NTASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1",
             "SLURM_NTASKS_PER_NODE": "4(x2)"}
    assert placement(slurm) is None  # inside salloc without MASTER_ADDR: one process
    assert placement({**slurm, "MASTER_ADDR": "node1"}) == Placement(5, 8, 1, 4)


def test_what_ddp_cannot_train_is_refused_clearly(monkeypatch):
    class TwoOptimisers:
        def configure_optimizers(self, cfg):
            return {}

    with pytest.raises(ConfigError, match="GAN.*one process"):
        Dist(Placement(0, 2, 0, 2)).check(TwoOptimisers())
    with pytest.raises(ConfigError, match="--nproc must be 1 or more"):
        check_nproc(0)
    with pytest.raises(ConfigError, match="variants"):
        gk.train("adding-rnn-vs-lstm", nproc=2)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="already runs under torchrun"):
        check_nproc(2)

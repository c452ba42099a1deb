"""The CUDA paths (issue 19, part 6): mixed precision with loss scaling, NCCL, checkpoints that
cross devices. They run where a GPU is (`make gpu-check` runs them with the GPU benchmarks) and
are skipped elsewhere; the one test of what happens without a GPU runs everywhere else."""
import json

import pytest
import torch

import gradkit as gk
from gradkit.errors import ConfigError

QUIET = {"verbose": False}
GPU = torch.cuda.is_available()
cuda = pytest.mark.skipif(not GPU, reason="no CUDA GPU on this machine (make gpu-check runs these)")


@pytest.mark.skipif(GPU, reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error():
    from gradkit.training.runtime import select_device

    with pytest.raises(ConfigError, match="no CUDA device is available; use train.device=auto"):
        select_device("cuda")
    with pytest.raises(ConfigError, match="no CUDA device"):
        gk.train("iris-mlp", train={"device": "cuda", "epochs": 1}, **QUIET)


@cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_trains_and_scales_the_loss(tmp_path, precision):
    run = gk.train("digits-cnn", train={"device": "cuda", "precision": precision, "epochs": 3},
                   out=tmp_path / precision, output={"report": False}, **QUIET)
    assert json.loads((run.dir / "run.json").read_text())["precision"] == precision
    assert run.metrics["test/accuracy"] > 0.85
    state = torch.load(run.dir / "checkpoints" / "last.pt", weights_only=False)
    scale = state["scaler"].get("scale")
    if precision == "fp16":  # the scaler ran: a finite power-of-two scale, grown or backed off
        assert scale is not None and torch.isfinite(torch.as_tensor(scale)) and float(scale) > 0


@cuda
def test_checkpoints_cross_devices(tmp_path, stop_after):
    """Trained on the GPU, resumed on the CPU, then resumed on the GPU again: same history."""
    stop_after(1)
    with pytest.raises(KeyboardInterrupt):
        gk.train("digits-mlp", train={"device": "cuda", "epochs": 3}, out=tmp_path / "r",
                 output={"report": False}, **QUIET)
    config = tmp_path / "r" / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("device: cuda", "device: cpu"))
    stop_after(2)
    with pytest.raises(KeyboardInterrupt):
        gk.resume(tmp_path / "r", **QUIET)
    stop_after(None)
    config.write_text(text)
    run = gk.resume(tmp_path / "r", **QUIET)
    epochs = [json.loads(line)["epoch"] for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3] and run.metrics["test/accuracy"] > 0.8


@cuda
def test_one_rank_nccl(tmp_path):
    """torchrun's path with the NCCL backend (the device is CUDA), on one rank and, where the
    machine has them, on two GPUs."""
    import torch.distributed as td

    from gradkit.distributed import launch
    from gradkit.engine import resolve

    if not td.is_nccl_available():
        pytest.skip("this torch build has no NCCL")
    for nproc in sorted({1, min(2, torch.cuda.device_count())}):
        cfg = resolve("digits-mlp", overrides=["train.device=cuda", "train.epochs=2", "output.report=false",
                                               f"output.run_dir={tmp_path / f'n{nproc}'}"])
        run = launch.train(cfg, nproc, verbose=False)
        info = json.loads((run.dir / "run.json").read_text())
        assert info["world_size"] == nproc and run.metrics["test/accuracy"] > 0.8

"""`make gpu-check`: every CUDA path, proved on the machine's GPU in one command.

On a machine with a CUDA GPU: the CUDA-marked tests (mixed precision with loss scaling, NCCL,
checkpoints crossing devices), then the fashion-cnn, fashion-mlp, PPO (CartPole) and serve
benchmarks on the GPU (train.device=auto picks it), each writing results/gpu/<name>.json with
the GPU named in its `machine.gpus`. Without a GPU it says so and exits 0: the CPU suite and
the CPU benchmarks are elsewhere (`make test`, `make bench`).

    python benchmarks/gpu_check.py           # everything (about 15 minutes on one GPU)
    python benchmarks/gpu_check.py --quick   # the tests and each benchmark's --quick
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import _bench

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCHMARKS = [  # (script, extra arguments)
    ("fashion_cnn.py", []),
    ("fashion_mlp.py", []),
    ("rl_cartpole.py", ["--skip-sb3", "--only", "gradkit-ppo"]),
    ("serve_load.py", []),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prove gradkit's CUDA paths on this machine's GPU.")
    parser.add_argument("--quick", action="store_true", help="the tests and each benchmark's --quick")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU on this machine; nothing to check (the CPU suite is `make test`)")
        return 0
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    print(f"gpu-check on {names}", flush=True)
    out = _bench.RESULTS_DIR / "gpu"
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    start = time.perf_counter()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", str(ROOT / "tests" / "test_cuda.py")],
                           cwd=ROOT)
    if tests.returncode:
        failed.append("tests/test_cuda.py")
    for script, extra in BENCHMARKS:
        name = script.removesuffix(".py")
        command = [sys.executable, str(HERE / script), *extra, "--out", str(out / f"{name}.json")]
        if args.quick:
            command.append("--quick")
        print(f"== {name}", flush=True)
        if subprocess.run(command, cwd=ROOT).returncode:
            failed.append(script)
    print(f"gpu-check: {time.perf_counter() - start:.0f} s on {names}; "
          + (f"FAILED: {', '.join(failed)}" if failed else "all passed"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The file formats: each writes the `Predictor` one way and runs the written file back.

Every writer is traced or exported with a 2-example batch whose batch axis is marked dynamic,
then checked (gradkit.export.export) on a held-out batch of another size, so a model whose
graph froze the batch size fails its check instead of shipping.

| format       | file                         | runs with                                         |
|--------------|------------------------------|---------------------------------------------------|
| onnx         | model.onnx (opset 18)        | onnxruntime, any ONNX runtime; no PyTorch needed  |
| torchscript  | model.torchscript.pt         | torch.jit.load, C++ libtorch                      |
| torch-export | model.pt2                    | torch.export.load(...).module()                   |
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from gradkit.errors import GradkitError

OPSET = 18
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "torch-export": ".pt2"}


def _example(x: torch.Tensor) -> torch.Tensor:
    # 2 examples: torch.export specialises a dimension of size 0 or 1 to a constant
    return x[:2].clone() if len(x) >= 2 else torch.cat([x, x])[:2]


def write_onnx(module: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    """The TorchScript-based exporter (`dynamo=False`): it covers every gradkit model (LSTMs
    included), needs no onnxscript, and marks the batch axis dynamic with `dynamic_axes`."""
    with warnings.catch_warnings():  # its deprecation notice is PyTorch's, not the user's concern
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (_example(x),), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    _needs("onnx", "export").checker.check_model(str(path), full_check=True)  # a valid ONNX model


def run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    ort = _needs("onnxruntime", "export")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def write_torchscript(module: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    """Traced, not scripted: tracing follows any model gradkit builds (scripting would need
    every model's Python to be TorchScript-compatible). The tracer's warnings are kept quiet
    because the check on another batch size catches what they warn about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, (_example(x),), check_trace=False)
        torch.jit.save(traced, str(path))


@torch.inference_mode()
def run_torchscript(path: Path, x: torch.Tensor) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    return loaded(x).float().numpy()


def write_torch_export(module: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    try:
        with warnings.catch_warnings():  # RNNs' flat weights "assigned during export": harmless,
            warnings.simplefilter("ignore")  # and the check on held-out data would catch harm
            program = torch.export.export(module, (_example(x),), dynamic_shapes={"x": {0: batch}})
    except Exception as exc:  # a graph break names the model code torch.export cannot follow
        raise GradkitError(f"torch.export could not export this model ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}); try --format onnx "
                           "or torchscript") from None
    torch.export.save(program, str(path))


@torch.inference_mode()
def run_torch_export(path: Path, x: torch.Tensor) -> np.ndarray:
    return torch.export.load(str(path)).module()(x).float().numpy()


WRITERS = {"onnx": (write_onnx, run_onnx), "torchscript": (write_torchscript, run_torchscript),
           "torch-export": (write_torch_export, run_torch_export)}


def _needs(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise GradkitError(f"--format onnx needs the {module} package: "
                           f"pip install 'gradkit[{extra}]'") from None

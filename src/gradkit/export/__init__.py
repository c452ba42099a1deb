"""Export a trained run for use outside gradkit, checked against the original on real data.

    gradkit export RUN_DIR --format onnx            # RUN_DIR/export/model.onnx
    gradkit export RUN_DIR --format bundle --out m  # pickle-free folder: gk.load("m")

    >>> from gradkit.export import export
    >>> export("runs/digits-cnn/20260101-120000-s0", "onnx")["check"]["max_abs_diff"]
    4.1e-07

Every format is written, read back from the file with its own runtime (onnxruntime,
torch.jit.load, torch.export.load, gk.load), and run on the first 256 test examples of the
run's own data set; the largest absolute difference from the original model's outputs is
printed, returned and recorded in the run's run.json (`exports`) and in a bundle's manifest.
An export that differs by more than the tolerance is deleted and raises a GradkitError.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from gradkit.errors import ConfigError, GradkitError, did_you_mean

FORMATS = ("onnx", "torchscript", "torch-export", "bundle")


def export(run_dir: str | Path, format: str, out: str | Path | None = None,
           data_dir: str | None = None) -> dict[str, Any]:
    """Write `run_dir`'s best model in `format` to `out` and check it; returns the record."""
    from gradkit.engine import load
    from gradkit.export import bundle
    from gradkit.export.predictor import compare, held_out, reference

    if format not in FORMATS:
        raise ConfigError(f"--format {format} is not one of {', '.join(FORMATS)}"
                          f"{did_you_mean(format, FORMATS)}")
    if format == "torch-export" and out is not None and Path(out).suffix != ".pt2":
        raise ConfigError(f"--out {out}: torch.export's archives end in .pt2 (torch.export.load "
                          "insists), e.g. --out model.pt2")
    run = load(run_dir)
    if run.task.outputs == "verdict":
        raise GradkitError("a GAN's predict() is its discriminator's verdict, which is not a model "
                           "to deploy; sample from it with `gradkit sample` instead")
    target = Path(out) if out else _default_out(run, format)
    x = held_out(run, data_dir)
    expected = reference(run, x)
    if format == "bundle":
        _fresh_folder(target)
        bundle.write_bundle(run, target)
        got = reference(load(target), x)  # read back from the folder alone
    else:
        got = _write_and_run(run, format, x, target)
    check = compare(expected, got)
    record = {"format": format, "path": str(target), "check": check}
    if not check["ok"]:
        _remove(target)
        raise GradkitError(f"the {format} export differs from the original model by up to "
                           f"{check['max_abs_diff']:.3g} on {len(x)} test examples ("
                           f"{check.get('detail', 'tolerance exceeded')}); it was deleted")
    _record(run, record, target if format == "bundle" else None)
    return record


def _write_and_run(run: Any, format: str, x: Any, target: Path) -> Any:
    """Write the file, then run it with its own runtime on the held-out batch `x`."""
    from gradkit.export import formats
    from gradkit.export.predictor import Predictor

    writer, runner = formats.WRITERS[format]
    target.parent.mkdir(parents=True, exist_ok=True)
    step = f"could not be written to {target}"
    try:
        writer(Predictor(run.task, run.spec).eval(), x, target)
        step = f"could not run on {len(x)} test examples"
        return runner(target, x)
    except GradkitError:
        _remove(target)
        raise
    except OSError as exc:  # the folder, not the format: permissions, a full or read-only disk
        _remove_quietly(target)
        raise GradkitError(f"the {format} export {step}: {exc.strerror or exc} "
                           f"({exc.filename or target}); check that folder's permissions and free "
                           "space, or choose another --out") from None
    except Exception as exc:  # an operator the exporter lacks; a graph that froze the batch size
        _remove(target)
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise GradkitError(f"the {format} export {step} ({type(exc).__name__}: {first}); nothing "
                           "was kept. Try another --format") from None


def _default_out(run: Any, format: str) -> Path:
    from gradkit.export.formats import SUFFIX

    folder = Path(run.dir) / "export"
    return folder / "bundle" if format == "bundle" else folder / f"model{SUFFIX[format]}"


def _fresh_folder(target: Path) -> None:
    """A bundle goes into an empty folder or replaces an older bundle, never into other files."""
    from gradkit.engine.bundle import is_bundle

    if target.exists() and any(target.iterdir()) and not is_bundle(target):
        raise GradkitError(f"{target} exists and is not a gradkit bundle; choose another --out")
    if target.exists():
        shutil.rmtree(target)


def _remove_quietly(target: Path) -> None:
    try:
        _remove(target)
    except OSError:
        pass


def _remove(target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def _record(run: Any, record: dict[str, Any], bundle_dir: Path | None) -> None:
    from gradkit.rundir import RunDir

    if bundle_dir is not None:
        manifest = bundle_dir / "manifest.json"
        data = json.loads(manifest.read_text(encoding="utf-8"))
        data["check"] = record["check"]
        manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if (Path(run.dir) / "config.yaml").is_file():  # a run directory, not a bundle re-exported
        rd = RunDir(run.dir)
        exports = [e for e in rd.read_json("run.json", {}).get("exports", [])
                   if e.get("path") != record["path"]]
        rd.update_info(exports=[*exports, record])


__all__ = ["FORMATS", "export"]

"""gradkit export: each format, read back by its own runtime, predicts what the original does on
real test data; the bundle is pickle-free and loads with gk.load alone; a wrong export is
caught and deleted.
"""
import csv
import json
import random
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import gradkit as gk
from gradkit.cli import app
from gradkit.errors import CheckpointError, ConfigError, GradkitError
from gradkit.export import export, formats
from gradkit.export.predictor import HELD_OUT

pytest.importorskip("onnxruntime", reason="the export extra: pip install 'gradkit[export]'")
FAST = ["train.threads=1", "output.report=false", "output.explain=false"]  # only the model matters here


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-digits")
    run = gk.train("digits-cnn", out=root / "run", verbose=False, overrides=["train.epochs=2", *FAST])
    return run, run.data()


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-diabetes")
    return gk.train("diabetes-linear", out=root / "run", verbose=False, overrides=["train.epochs=20", *FAST])


WORDS = {"animal": "cat dog horse cow sheep goat", "food": "bread rice apple cheese soup pasta",
         "tool": "hammer saw drill wrench pliers chisel"}
FILLER = "the a of with and some very small big old new".split()


def text_csv(path):
    """Each text: 2 words of its class among 3 to 5 filler words."""
    rng = random.Random(0)
    rows = [("text", "label", "split")]
    for split, count in (("train", 40), ("test", 15)):
        for _ in range(count):
            for label, words in WORDS.items():
                tokens = rng.sample(words.split(), 2) + rng.sample(FILLER, rng.randint(3, 5))
                rng.shuffle(tokens)
                rows.append((" ".join(tokens), label, split))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-text")
    text_csv(root / "t.csv")
    return gk.train("wordnet-lstm", out=root / "run", verbose=False, overrides=[
        "data.name=text-csv", f"data.path={root / 't.csv'}", "data.tokenizer=word",
        "data.vocab_size=100", "data.max_length=12", "train.epochs=3", "train.batch_size=16",
        "model.embed_dim=16", "model.hidden=16", "optim.lr=0.02", *FAST])


def run_file(fmt, path, x):
    """The exported file run by its own runtime, independently of export()'s own check."""
    return {"onnx": formats.run_onnx, "torchscript": formats.run_torchscript,
            "torch-export": formats.run_torch_export}[fmt](path, x)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "torch-export"])
def test_each_format_predicts_what_the_original_does_on_the_whole_test_split(digits, fmt, tmp_path):
    run, data = digits
    out = tmp_path / f"digits{formats.SUFFIX[fmt]}"
    record = export(run.dir, fmt, out)
    assert record["check"]["ok"] and record["check"]["n_examples"] == HELD_OUT
    assert record["check"]["max_abs_diff"] < 1e-4
    # every test example (360, not the 256 of the check, nor the 2 it was traced with), raw pixels
    x = data.test.x.float()
    got = run_file(fmt, out, x)
    expected = run.predict(data.test.x)
    assert got.shape == expected.shape == (len(data.test), 10)
    assert np.abs(got - expected).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.isclose(got.sum(1), 1, atol=1e-5).all()  # probabilities: the softmax is inside
    recorded = json.loads((run.dir / "run.json").read_text())["exports"]
    assert any(e["path"] == str(out) and e["format"] == fmt for e in recorded)


def test_the_default_place_is_inside_the_run_directory(digits):
    run, _ = digits
    record = export(run.dir, "onnx")
    assert record["path"] == str(run.dir / "export" / "model.onnx")


def test_the_bundle_is_pickle_free_and_loads_with_gk_load_alone(digits, tmp_path, monkeypatch):
    run, data = digits
    out = tmp_path / "bundle"
    record = export(run.dir, "bundle", out)
    assert record["check"]["max_abs_diff"] == 0.0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.safetensors"]
    for path in out.iterdir():  # pickle streams start with the PROTO opcode 0x80
        assert not path.read_bytes().startswith(b"\x80"), path
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "gradkit-bundle-1" and manifest["gradkit_version"] == gk.__version__
    assert manifest["labels"] == [str(i) for i in range(10)]
    assert manifest["input"]["shape"] == [1, 8, 8] and manifest["preprocessing"]["pixel_max"] == 16
    assert manifest["preprocessing"]["mean"] == run.spec.mean and manifest["config"]["model"] == run.config.model
    assert manifest["check"]["n_examples"] == HELD_OUT

    # nothing is unpickled: loading with torch.load or pickle unavailable still works
    def refuse(*args, **kwargs):
        raise AssertionError("the bundle must not unpickle anything")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr("pickle.load", refuse)
    monkeypatch.setattr("pickle.loads", refuse)
    moved = tmp_path / "elsewhere" / "model"  # the run directory is not needed
    shutil.copytree(out, moved)
    loaded = gk.load(moved)
    assert np.array_equal(loaded.predict(data.test.x), run.predict(data.test.x))
    assert loaded.classify(data.test.x[:2]) == run.classify(data.test.x[:2])
    assert loaded.class_names == run.class_names and loaded.config.model == run.config.model


def test_evaluate_and_predict_accept_a_bundle(digits, tmp_path):
    from PIL import Image

    run, data = digits
    out = tmp_path / "b"
    export(run.dir, "bundle", out)
    assert gk.evaluate(out) == pytest.approx(gk.evaluate(run.dir))
    index = int((data.test.y == 7).nonzero()[0, 0])
    pixels = (data.test.x[index, 0].numpy().astype(np.float32) * 255 / 16).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "seven.png")
    result = CliRunner().invoke(app, ["predict", str(out), str(tmp_path / "seven.png")])
    expected = run.classify(data.test.x[index:index + 1])[0][0][0]
    assert result.exit_code == 0 and f"seven.png: {expected}" in result.output


def test_a_damaged_bundle_is_refused(digits, tmp_path):
    run, _ = digits
    out = tmp_path / "b"
    export(run.dir, "bundle", out)
    weights = bytearray((out / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF
    (out / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(CheckpointError, match="SHA-256"):
        gk.load(out)
    (out / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="not a gradkit bundle"):
        gk.load(out)


def test_a_bundle_reads_only_its_own_files(digits, tmp_path):
    """A manifest naming a weights file outside its folder (a genuine copy of the weights there,
    hash and all) is refused: a shared bundle must not make gk.load read elsewhere."""
    run, _ = digits
    out = tmp_path / "shared" / "b"
    export(run.dir, "bundle", out)
    (tmp_path / "outside.safetensors").write_bytes((out / "model.safetensors").read_bytes())
    manifest = json.loads((out / "manifest.json").read_text())
    for name in ("../../outside.safetensors", str(tmp_path / "outside.safetensors")):
        manifest["weights"]["file"] = name
        (out / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(CheckpointError, match="outside the bundle folder"):
            gk.load(out)


def test_an_export_that_differs_is_deleted_with_an_error(digits, tmp_path, monkeypatch):
    run, _ = digits
    writer, runner = formats.WRITERS["onnx"]
    monkeypatch.setitem(formats.WRITERS, "onnx", (writer, lambda path, x: runner(path, x) + 1e-3))
    out = tmp_path / "m.onnx"
    with pytest.raises(GradkitError, match="differs from the original model by up to 0.001"):
        export(run.dir, "onnx", out)
    assert not out.exists()

    def frozen(path, x):  # what a graph that froze the example's batch size of 2 does
        raise RuntimeError("shape mismatch: expected 2")

    monkeypatch.setitem(formats.WRITERS, "onnx", (writer, frozen))
    with pytest.raises(GradkitError, match="could not run on 256 test examples .RuntimeError"):
        export(run.dir, "onnx", out)
    assert not out.exists()


def test_regression_outputs_in_target_units_match(diabetes, tmp_path):
    """diabetes-linear: predictions are un-standardised inside the exported graph."""
    data = diabetes.data()
    for fmt in ("onnx", "torch-export", "bundle"):
        record = export(diabetes.dir, fmt, tmp_path / f"m-{fmt}{formats.SUFFIX.get(fmt, '')}")
        assert record["check"]["ok"], record
    got = formats.run_onnx(tmp_path / "m-onnx.onnx", data.test.x)
    expected = diabetes.predict(data.test.x)
    assert got.shape == expected.shape and expected.std() > 10  # target units, not standardised
    assert np.abs(got - expected).max() < 1e-3
    assert np.allclose(gk.load(tmp_path / "m-bundle").predict(data.test.x), expected)


def test_a_forecaster_keeps_a_dynamic_batch(tmp_path):
    """sunspots-gru: windows (N, L, 1) -> forecasts in series units; traced with 2 windows, run
    on 256 (a graph that froze the batch size fails its check: it did, before forecast.py's fix)."""
    run = gk.train("sunspots-gru", out=tmp_path / "run", verbose=False, overrides=["train.epochs=1", *FAST])
    for fmt in ("onnx", "torchscript", "torch-export"):
        record = export(run.dir, fmt, tmp_path / f"m{formats.SUFFIX[fmt]}")
        assert record["check"]["ok"] and record["check"]["n_examples"] > 2, record
    with pytest.raises(ConfigError, match=".pt2"):
        export(run.dir, "torch-export", tmp_path / "m.zip")


def test_a_text_classifier_exports_with_its_tokenizer(text_run, tmp_path):
    """An LSTM over token ids: ONNX through onnxruntime, and a bundle that tokenises by itself."""
    assert text_run.metrics["test/accuracy"] > 0.8
    record = export(text_run.dir, "onnx", tmp_path / "t.onnx")
    assert record["check"]["ok"] and record["check"]["max_abs_diff"] < 1e-4
    export(text_run.dir, "bundle", tmp_path / "tb")
    assert (tmp_path / "tb" / "tokenizer.json").is_file()
    texts = ["a dog with the cow", "some bread and cheese", "old hammer and a saw"]
    loaded = gk.load(tmp_path / "tb")
    assert np.array_equal(loaded.predict(texts), text_run.predict(texts))
    assert [top[0][0] for top in loaded.classify(texts)] == ["animal", "food", "tool"]


def test_the_cli_prints_the_check_and_names_bad_formats(digits, tmp_path):
    run, _ = digits
    result = CliRunner().invoke(app, ["export", str(run.dir), "--format", "torchscript",
                                      "--out", str(tmp_path / "m.pt")])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    assert "checked on 256 test examples: max abs difference" in out
    result = CliRunner().invoke(app, ["export", str(run.dir), "--format", "onxx"])
    assert result.exit_code == 2 and "did you mean 'onnx'" in " ".join(result.output.split())
    with pytest.raises(ConfigError):
        export(run.dir, "tflite")
    result = CliRunner().invoke(app, ["export", str(tmp_path / "nothing"), "--format", "onnx"])
    assert result.exit_code == 2 and "not a gradkit run directory" in " ".join(result.output.split())

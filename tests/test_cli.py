"""The `gradkit` command, as a user types it."""
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gradkit.cli import app

runner = CliRunner()


def gradkit(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def test_help_does_not_import_torch():
    code = ("import sys; from typer.testing import CliRunner; from gradkit.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(r.output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "recipes" in out.stdout and "train" in out.stdout


def test_recipes_table_and_markdown():
    code, out = gradkit("recipes")
    assert code == 0 and "fashion-cnn" in out and "diabetes-linear" in out
    code, md = gradkit("recipes", "--markdown")
    assert code == 0 and "## `digits-cnn`" in md and "gradkit train digits-cnn" in md
    # docs/recipes.md is generated from the recipes: regenerate it (make docs) when they change
    shipped = Path(__file__).resolve().parent.parent / "docs" / "recipes.md"
    assert " ".join(shipped.read_text().split()) == md, "docs/recipes.md is stale: run `make docs`"


def test_bad_config_exits_2_with_a_suggestion():
    code, out = gradkit("train", "digits-mlp", "train.epoch=3")
    assert code == 2
    assert "did you mean 'train.epochs'" in out and "Traceback" not in out


def test_missing_recipe_and_resume_conflicts():
    assert gradkit("train")[0] == 2
    code, out = gradkit("train", "digits-mlp", "--resume", "somewhere")
    assert code == 2 and "reloads the run's saved config" in out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "runs" / "digits-mlp" / "r1"
    code, text = gradkit("train", "digits-mlp", "train.epochs=8", "--out", out, "--quiet")
    assert code == 0, text
    assert f"run directory: {out}" in text
    return out


def test_evaluate_prints_the_test_table(digits_run):
    code, out = gradkit("evaluate", digits_run)
    assert code == 0 and "test/accuracy" in out and "test/f1_macro" in out


def test_predict_an_image_file(digits_run, tmp_path):
    import gradkit as gk

    data = gk.data.load("digits")
    index = int((data.test.y == 3).nonzero()[0])
    pixels = (data.test.x[index, 0].numpy().astype(np.float32) * 255 / 16).astype(np.uint8)
    Image.fromarray(pixels).resize((32, 32), Image.Resampling.NEAREST).save(tmp_path / "three.png")
    code, out = gradkit("predict", digits_run, tmp_path / "three.png", "-k", "2")
    assert code == 0, out
    assert "three.png: 3" in out and "resized 32x32 to 8x8" in out
    code, out = gradkit("predict", digits_run, tmp_path / "missing.png")
    assert code == 2 and "not a readable image" in out


def test_runs_list_compare_report_doctor(digits_run, tmp_path):
    root = digits_run.parent.parent.parent
    code, out = gradkit("runs", "--root", root)
    assert code == 0 and "completed" in out
    code, out = gradkit("runs", "compare", digits_run, digits_run)
    assert code == 0 and "test/accuracy" in out
    (digits_run / "report.html").unlink()
    code, out = gradkit("report", digits_run)
    assert code == 0 and (digits_run / "report.html").is_file()
    code, out = gradkit("report", tmp_path / "nope")
    assert code == 2
    code, out = gradkit("doctor")
    assert code == 0 and "fashion-mnist" in out and "threads" in out
    assert "image-folder your images (data.dir=)" in out
    assert "sunspots bundled with statsmodels" in out  # each set says where it really comes from
    assert "wordnet-supersenses bundled" not in out and "imdb not found" in out

"""`gradkit doctor --check-data`: what it finds on real data and on crafted faulty files,
checked against counts computed here independently."""
import csv

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

import gradkit as gk
from gradkit.cli import app
from gradkit.doctor import check_data
from gradkit.errors import ConfigError


def _by_check(found) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in found.findings:
        out.setdefault(f.check, []).append(f)
    return out


def _cli(*args):
    result = CliRunner().invoke(app, ["doctor", "--check-data", *map(str, args)])
    return result.exit_code, " ".join(result.output.split())


def _overlap(train_x, test_x) -> int:
    seen = {row.tobytes() for row in train_x.reshape(len(train_x), -1).numpy()}
    return sum(row.tobytes() in seen for row in test_x.reshape(len(test_x), -1).numpy())


def test_digits_passes_and_its_figures_are_the_real_ones():
    found = check_data("digits-mlp")
    checks = _by_check(found)
    data = gk.data.load("digits")
    assert found.count("error") == 0
    sizes = checks["splits"][0]
    assert sizes.level == "ok" and sizes.detail == (f"train {len(data.train):,}, val {len(data.val):,}, "
                                                    f"test {len(data.test):,}")
    counts = np.bincount(data.train.y.numpy())
    balance = checks["class balance"][0].detail
    assert f"{counts.min()} to {counts.max()} training examples each" in balance
    assert "image shape" in checks and "1x8x8" in checks["image shape"][0].detail
    assert "pixel values 0..16 (white = 16)" in checks["image shape"][0].detail
    leaked = _overlap(data.train.x, data.test.x)  # the oracle: exact byte equality of rows
    overlap = checks["train/test overlap"][0]
    if leaked:
        assert overlap.level == "warning" and overlap.detail.startswith(f"{leaked:,} of {len(data.test):,}")
    else:
        assert overlap.level == "ok"


def test_the_cli_prints_a_table_and_exits_0_on_warnings_only():
    code, out = _cli("digits-mlp", "data.val_fraction=0")
    assert code == 0, out
    assert "data check: digits" in out and "class balance" in out and "splits" in out
    assert "0 error(s), 1 warning(s): ready to train (read the warnings)" in out
    assert "no validation split" in check_data("digits-mlp", ["data.val_fraction=0"]).findings[0].detail


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])


def _config(tmp_path, csv_path, **data):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"base": "iris-mlp", "data": {"name": "csv", "path": str(csv_path),
                                                               "target": "y", **data}}))
    return path


def test_a_csv_with_nans_and_duplicates_lists_every_problem_and_exits_1(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[f"{a:.3f}", f"{b:.3f}", str(int(a > 0))] for a, b in rng.normal(size=(40, 2))]
    rows[3][0] = ""  # line 5
    rows[9][0] = "nan"  # line 11
    rows[12][1] = "inf"  # line 14
    rows[20][1] = "n/a"  # line 22
    rows += [rows[0], rows[1], rows[1]]  # 3 exact repeats
    _write_csv(tmp_path / "d.csv", ["a", "b", "y"], rows)
    found = check_data(str(_config(tmp_path, tmp_path / "d.csv")))
    checks = _by_check(found)
    assert checks["loading"][0].level == "error"  # the loader's own first complaint
    assert checks["column 'a'"][0].detail == "2 missing/NaN (lines 5, 11)"
    assert checks["column 'b'"][0].detail == "1 infinite (line 14); 1 not numeric (line 22), e.g. 'n/a'"
    assert checks["duplicate rows"][0].detail.startswith("3 rows repeat an earlier row")
    code, out = _cli(_config(tmp_path, tmp_path / "d.csv"))
    assert code == 1 and "column 'a'" in out and "fix the errors before training" in out


def test_leaked_and_imbalanced_rows_are_warned_with_exact_counts(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 3)).round(3)
    y = (np.arange(150) < 20).astype(int)  # 20 of class 1, 130 of class 0: ratio > 3
    rows = [[*map(str, r), str(c)] for r, c in zip(x, y)]
    rows += rows[:30]  # the first 30 rows twice: some copies land in test
    _write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"], rows)
    found = check_data(str(_config(tmp_path, tmp_path / "d.csv")))
    checks = _by_check(found)
    assert found.count("error") == 0
    data = gk.data.build(gk.resolve(file=_config(tmp_path, tmp_path / "d.csv")).data, "classes", 0)
    leaked = _overlap(data.train.x, data.test.x)
    assert leaked > 0
    assert checks["train/test overlap"][0].detail.startswith(f"{leaked} of {len(data.test)} test")
    assert checks["class balance"][0].level == "warning" and "macro F1" in checks["class balance"][0].detail


def test_text_lengths_and_duplicate_texts(tmp_path):
    texts = [("a short text", "s"), ("another short one", "s"), ("word " * 40, "l"), ("more " * 30, "l")]
    rows = [[t + f" {i}", lab, "train"] for i in range(20) for t, lab in texts]
    rows += [[rows[0][0], "s", "test"], [rows[2][0], "l", "test"], ["fresh text", "s", "test"]]
    _write_csv(tmp_path / "t.csv", ["text", "label", "split"], rows)
    overrides = [f"data.path={tmp_path / 't.csv'}", "data.max_length=16", "data.name=text-csv",
                 "data.top_k=null"]
    found = check_data("wordnet-lstm", overrides)
    checks = _by_check(found)
    data = gk.data.build(gk.resolve("wordnet-lstm", overrides=overrides).data, "classes", 0)
    leaked = sum(t in set(data.train.text) for t in data.test.text)  # val was carved from train
    assert 1 <= leaked <= 2 and checks["train/test overlap"][0].detail.startswith(f"{leaked} of 3 test")
    length = checks["text length"][0]
    assert length.level == "warning" and "raise data.max_length" in length.detail


def test_image_folder_sizes_modes_and_a_broken_file(tmp_path):
    for cls, size, mode in (("cat", (12, 12), "L"), ("dog", (16, 10), "RGB")):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(6):
            Image.new(mode, size, color=i * 30).save(tmp_path / "imgs" / cls / f"{i}.png")
    found = check_data("digits-cnn", ["data.name=image-folder", f"data.dir={tmp_path / 'imgs'}",
                                      "data.image_size=8", "data.channels=1"])
    checks = _by_check(found)
    assert found.count("error") == 0
    assert checks["image sizes"][0].detail.startswith("2 sizes from 12x12 to 16x10")
    assert checks["colour modes"][0].level == "warning"
    (tmp_path / "imgs" / "dog" / "bad.png").write_bytes(b"\x89PNG not really")
    found = check_data("digits-cnn", ["data.name=image-folder", f"data.dir={tmp_path / 'imgs'}",
                                      "data.image_size=8", "data.channels=1"])
    checks = _by_check(found)
    assert checks["unreadable images"][0].level == "error" and "bad.png" in checks["unreadable images"][0].detail


def test_rl_recipes_and_unknown_recipes_are_clear_errors():
    with pytest.raises(ConfigError, match="no data set to check"):
        check_data("cartpole-ppo")
    code, out = _cli("digits-mlpp")
    assert code == 2 and "did you mean 'digits-mlp'" in out and "Traceback" not in out

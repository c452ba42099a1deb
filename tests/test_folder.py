"""`image-folder` on real images (scikit-learn's digits saved as PNG files), in memory and streamed."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import gradkit as gk
import gradkit.data as D
from gradkit.cli import app
from gradkit.data.folder import read_image
from gradkit.errors import ConfigError, DataError
from gradkit.data.inputs import load_image

QUIET = {"verbose": False}
CPU = torch.device("cpu")


def save_png(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    """ROOT/train/<digit>/<i>.png and ROOT/test/<digit>/<i>.png (every fifth image), 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    root = tmp_path_factory.mktemp("digits")
    for i, (image, label) in enumerate(zip(bunch.images, bunch.target)):
        part = "test" if i % 5 == 0 else "train"
        save_png(root / part / str(label) / f"{i}.png", np.round(image * 255 / 16).astype(np.uint8))
    return root


def folder_data(root, **kw) -> dict:
    return {"name": "image-folder", "dir": str(root), **kw}


@pytest.fixture(scope="module")
def folder_run(digits_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    return gk.train("digits-cnn", data=folder_data(digits_dir), train={"epochs": 3}, out=out, **QUIET)


def test_in_memory_training_reaches_090(folder_run):
    assert folder_run.metrics["test/accuracy"] >= 0.90
    info = json.loads((folder_run.dir / "run.json").read_text())
    assert info["samples"] == {"train": 1293, "val": 144, "test": 360}  # test/ read, val carved
    assert info["spec"]["input_shape"] == [1, 8, 8] and info["spec"]["class_names"][:2] == ["0", "1"]
    assert "data:image/png;base64," in (folder_run.dir / "report.html").read_text()


def test_split_layout_flat_layout_and_the_memory_decision(digits_dir):
    ds = D.load("image-folder", dir=str(digits_dir))
    assert isinstance(ds.train, D.Split) and ds.train.x.dtype == torch.uint8
    assert torch.bincount(ds.test.y).tolist() == [len(list((digits_dir / "test" / str(d)).iterdir()))
                                                  for d in range(10)]
    # No train/ folder: ROOT/<class>/ with test and val carved, stratified, under the seed.
    flat = [D.load("image-folder", dir=str(digits_dir / "train"), seed=s) for s in (3, 3, 4)]
    assert torch.equal(flat[0].test.y, flat[1].test.y) and torch.equal(flat[0].train.x, flat[1].train.x)
    assert not torch.equal(flat[0].train.x, flat[2].train.x)
    assert len(flat[0].train) + len(flat[0].val) + len(flat[0].test) == 1437
    per_class = torch.tensor([len(list((digits_dir / "train" / str(d)).iterdir())) for d in range(10)])
    assert (torch.bincount(flat[0].test.y, minlength=10) - 0.2 * per_class).abs().max() <= 1  # stratified
    # Resized and converted on request; 1797 x 3x32x32 bytes exceed a 1 MB budget: streamed.
    big = D.load("image-folder", dir=str(digits_dir), image_size=32, channels=3, memory_limit_mb=1)
    assert isinstance(big.train, D.StreamSplit) and big.spec.input_shape == (3, 32, 32)
    assert big.train.take([0, 5]).x.shape == (2, 3, 32, 32)


def test_image_size_null_takes_the_first_image_and_resizes_the_others(tmp_path):
    rng = np.random.default_rng(0)
    save_png(tmp_path / "a" / "1.png", rng.integers(0, 255, (6, 10), dtype=np.uint8))
    save_png(tmp_path / "a" / "2.png", rng.integers(0, 255, (12, 7), dtype=np.uint8))
    for i in range(3):
        save_png(tmp_path / "b" / f"{i}.png", rng.integers(0, 255, (6, 10, 3), dtype=np.uint8))
    ds = D.load("image-folder", dir=str(tmp_path), test_fraction=0.2, val_fraction=0.0)
    assert ds.spec.input_shape == (1, 6, 10) and ds.spec.class_names == ["a", "b"]
    assert ds.train.x.shape[1:] == (1, 6, 10)


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_batches_equal_in_memory_batches(digits_dir, workers):
    memory = D.load("image-folder", dir=str(digits_dir), in_memory=True)
    stream = D.load("image-folder", dir=str(digits_dir), in_memory=False)
    assert isinstance(stream.train, D.StreamSplit) and stream.spec == memory.spec
    fast = D.make_batches(memory.train, memory.spec, 64, CPU, shuffle=True, seed=1)
    slow = D.make_batches(stream.train, stream.spec, 64, CPU, shuffle=True, seed=1, workers=workers)
    assert isinstance(slow, D.StreamBatches) and len(slow) == len(fast) == 21
    firsts = []
    for epoch in (3, 4):  # set_epoch reorders the same loader (persistent workers included)
        fast.set_epoch(epoch)
        slow.set_epoch(epoch)
        pairs = list(zip(fast, slow, strict=True))
        for (x1, y1), (x2, y2) in pairs:
            assert x2.dtype == torch.float32 and torch.equal(x1, x2) and torch.equal(y1, y2)
        firsts.append(pairs[0][1][1])
    assert not torch.equal(firsts[0], firsts[1])
    evals = zip(D.make_batches(memory.test, memory.spec, 100, CPU),
                D.make_batches(stream.test, stream.spec, 100, CPU, workers=workers), strict=True)
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in evals)


def test_streamed_training_matches_in_memory_exactly(digits_dir, tmp_path):
    # dropout draws from the global RNG: the loader must not (it has a generator of its own)
    kw = dict(model={"dropout": 0.2}, train={"epochs": 2, "deterministic": True}, output={"report": False},
              **QUIET)
    memory = gk.train("digits-mlp", data=folder_data(digits_dir, in_memory=True), out=tmp_path / "m", **kw)
    stream = gk.train("digits-mlp", data=folder_data(digits_dir, in_memory=False, workers=1),
                      out=tmp_path / "s", **kw)
    # Same bytes, same normalisation, same order: every figure is bitwise equal.
    untimed = lambda metrics: {k: v for k, v in metrics.items() if not k.endswith("seconds")}
    assert untimed(stream.metrics) == untimed(memory.metrics)
    assert stream.metrics["test/accuracy"] > 0.8
    a, b = (np.load(run.dir / "artifacts" / "samples.npz") for run in (memory, stream))
    assert all(np.array_equal(a[k], b[k]) for k in ("x", "y", "prob"))


def test_predict_a_png_from_the_folder(folder_run, digits_dir):
    files = [sorted((digits_dir / "test" / str(d)).iterdir())[k] for d in range(10) for k in (0, 1)]
    image, notes = load_image(files[0], folder_run.spec)
    assert notes == [] and torch.equal(torch.from_numpy(image), read_image(str(files[0]), 1, (8, 8)))
    result = CliRunner().invoke(app, ["predict", str(folder_run.dir), *map(str, files), "-k", "1"])
    assert result.exit_code == 0, result.output
    said = [line.split(": ")[1] for line in result.output.splitlines() if ".png: " in line]
    assert sum(label == f.parent.name for label, f in zip(said, files)) >= 17
    assert gk.load(folder_run.dir).classify(image)[0][0][0] == said[0]


def test_auto_invert_follows_the_training_images(tmp_path):
    save_png(tmp_path / "light.png", np.full((8, 8), 230, dtype=np.uint8))
    dark_training = D.DataSpec("classification", "image", (1, 8, 8), 2, mean=[40.0], std=[60.0])
    light_training = D.DataSpec("classification", "image", (1, 8, 8), 2, mean=[210.0], std=[60.0])
    assert load_image(tmp_path / "light.png", dark_training)[0].max() == 25  # inverted
    assert load_image(tmp_path / "light.png", light_training)[0].max() == 230


def _image(path, size=4) -> None:
    save_png(path, np.random.default_rng(0).integers(0, 255, (size, size), dtype=np.uint8))


def _layout(root, case: str) -> None:
    if case in ("one class", "empty class", "corrupt", "truncated"):
        _image(root / "a" / "1.png")
    if case in ("empty class", "corrupt", "truncated"):
        (root / "b").mkdir()
        (root / "b" / "notes.txt").write_text("not an image")
    if case in ("corrupt", "truncated"):
        _image(root / "b" / "2.png")
        _image(root / "b" / "3.png", size=64)
        whole = (root / "b" / "3.png").read_bytes()
        (root / "b" / "3.png").write_bytes(b"garbage" if case == "corrupt" else whole[: len(whole) // 2])
    if case == "val classes differ":
        for part, classes in (("train", "ab"), ("val", "ac")):
            for c in classes:
                _image(root / part / c / "1.png")


@pytest.mark.parametrize("case, message", [
    ("no dir", r"image-folder needs data.dir=FOLDER"),
    ("missing dir", r"data.dir: folder not found: .*nowhere"),
    ("no class folders", r"holds no class folders; data.dir=FOLDER must hold one sub-folder"),
    ("one class", r"one class folder \(a\); a classifier needs at least 2 classes"),
    ("empty class", r"class folder\(s\) with no images: \S*/b \(image files end in .jpg, .jpeg, .png"),
    ("corrupt", r"b/3.png is not a readable image \(UnidentifiedImageError"),
    ("truncated", r"b/3.png is not a readable image \(OSError: image file is truncated"),
    ("val classes differ", r"val must hold the same class folders as \S*train \(not in train: c; missing: b\)"),
])
def test_folder_errors_are_clear(tmp_path, case, message):
    root = tmp_path / "images"
    if case != "missing dir":
        root.mkdir()
        _layout(root, case)
    folder = None if case == "no dir" else str(tmp_path / "nowhere" if case == "missing dir" else root)
    with pytest.raises(DataError, match=message):
        D.load("image-folder", dir=folder, val_fraction=0.0, test_fraction=0.3)


def test_a_corrupt_file_met_by_a_worker_is_named_without_its_traceback(tmp_path):
    root = tmp_path / "images"
    for part in ("train", "test"):
        for c in "ab":
            _image(root / part / c / "1.png")
    (root / "test" / "b" / "broken.png").write_bytes(b"garbage")
    ds = D.load("image-folder", dir=str(root), in_memory=False)  # the test split is not read yet
    with pytest.raises(DataError) as err:
        list(D.make_batches(ds.test, ds.spec, 2, CPU, workers=2))
    assert str(err.value).startswith(f"{root / 'test' / 'b' / 'broken.png'} is not a readable image")
    assert "Traceback" not in str(err.value)


@pytest.mark.parametrize("override, message", [
    ("data.channels=2", r"data.channels: .*expected 1 \(grey\), 3 \(RGB\) or null"),
    ("data.in_memory=maybe", r"data.in_memory: .*expected auto, true or false"),
    ("data.workers=-1", r"data.workers: .*greater than or equal to 0"),
])
def test_new_keys_are_checked(override, message):
    with pytest.raises(ConfigError, match=message):
        gk.resolve(overrides=["data.name=image-folder", override])


def test_symbolic_links_never_count_an_image_twice_or_under_the_wrong_class(tmp_path):
    """Links into a sibling class, out of the data folder, to a file already counted (from the
    test split too: a leak) and a folder loop: all skipped, each kind noted, doctor reports it."""
    import os

    from gradkit.data.check import check_dataset

    root = tmp_path / "images"
    for c in "ab":
        for i in range(6):
            save_png(root / "train" / c / f"{i}.png", np.full((4, 4), 20 * i + (120 if c == "b" else 0), np.uint8))
        save_png(root / "test" / c / "t.png", np.full((4, 4), 7, np.uint8))
    save_png(tmp_path / "elsewhere" / "x.png", np.zeros((4, 4), np.uint8))
    os.symlink(root / "train" / "b" / "0.png", root / "train" / "a" / "from-b.png")  # another class
    os.symlink(tmp_path / "elsewhere", root / "train" / "a" / "outside")  # leaves the data folder
    os.symlink(tmp_path / "elsewhere" / "x.png", root / "train" / "b" / "x.png")
    os.symlink(root / "train" / "a" / "1.png", root / "train" / "a" / "again.png")  # a repeat
    os.symlink(root / "train" / "a", root / "train" / "a" / "loop")  # a loop
    os.symlink(root / "train" / "a" / "2.png", root / "test" / "a" / "leak.png")  # a train image
    data = D.load("image-folder", dir=str(root), val_fraction=0.0)
    assert len(data.train) == 12 and len(data.test) == 2  # the real files, once each
    assert data.train.y.bincount().tolist() == [6, 6]
    notes = " | ".join(data.notes)
    for said in ("skipped 2 symbolic links leading outside", "skipped 1 symbolic links pointing into another",
                 "skipped 2 files already counted", "skipped 1 folder links looping"):
        assert said in notes, notes
    findings = [f.detail for f in check_dataset(data, labels=True)]
    assert any("pointing into another class" in m for m in findings)

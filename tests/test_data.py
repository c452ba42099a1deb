import gzip

import numpy as np
import pytest
import torch

import gradkit.data as D
from gradkit.config import DataConfig
from gradkit.data.images import read_idx
from gradkit.errors import ConfigError, DataError

from conftest import FASHION_DIR, needs_fashion


def write_idx(path, array: np.ndarray, truncate: int = 0) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(raw[: len(raw) - truncate] if truncate else raw)


def fake_mnist(folder, n=60, truncate_images=0, labels_max=9):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)),
                  truncate=truncate_images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % (labels_max + 1))


def test_idx_round_trip_and_truncation(tmp_path):
    fake_mnist(tmp_path / "ok")
    assert read_idx(tmp_path / "ok" / "train-images-idx3-ubyte.gz").shape == (60, 28, 28)
    fake_mnist(tmp_path / "bad", truncate_images=100)
    with pytest.raises(DataError, match=r"truncated or damaged: expected \d+ bytes"):
        read_idx(tmp_path / "bad" / "train-images-idx3-ubyte.gz")
    (tmp_path / "junk.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(tmp_path / "junk.gz")


def test_data_dir_is_searched_first_and_labels_checked(tmp_path):
    fake_mnist(tmp_path / "mine" / "mnist")
    ds = D.load("mnist", dir=str(tmp_path / "mine"), download=False)
    assert ds.source == str(tmp_path / "mine" / "mnist")
    assert ds.train.x.dtype == torch.uint8 and ds.train.x.shape[1:] == (1, 28, 28)
    fake_mnist(tmp_path / "badlabels", labels_max=11)
    with pytest.raises(DataError, match="out of range 0..9"):
        D.load("mnist", dir=str(tmp_path / "badlabels"), download=False)


def test_missing_dataset_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_DATA", str(tmp_path / "envdata"))
    with pytest.raises(DataError) as err:
        D.load("mnist", dir=str(tmp_path / "nowhere"), download=False)
    msg = str(err.value)
    assert "data set 'mnist' was not found" in msg
    assert str(tmp_path / "nowhere") in msg and str(tmp_path / "envdata") in msg
    assert "data.dir=" in msg and "Download disabled" in msg


def test_failed_download_is_reported(tmp_path, monkeypatch):
    import gradkit.data.images as images

    def offline(name, tv_class):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(images, "_download", offline)
    # Hide any system copy so the download path is taken even on machines that have one.
    real = images.search_dirs
    monkeypatch.setattr(images, "search_dirs", lambda name, d, subs: [
        p for p in real(name, d, subs) if str(p).startswith(str(tmp_path))])
    with pytest.raises(DataError, match=r"(?s)Download failed: OSError.*apt-get install dataset-fashion-mnist"):
        D.load("fashion-mnist", dir=str(tmp_path), download=True)


def test_splits_are_stratified_disjoint_and_deterministic():
    a, b = D.load("digits", seed=3), D.load("digits", seed=3)
    assert torch.equal(a.train.y, b.train.y) and torch.equal(a.test.x, b.test.x)
    c = D.load("digits", seed=4)
    assert not torch.equal(a.train.y, c.train.y)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    counts = torch.bincount(a.test.y, minlength=10).float()
    assert counts.min() >= counts.max() - 2  # stratified: about 36 of each digit


def test_batches_order_depends_only_on_seed_and_epoch():
    ds = D.load("digits")
    make = lambda: D.Batches(ds.train, ds.spec, 64, torch.device("cpu"), shuffle=True, seed=1)
    b1, b2 = make(), make()
    b1.set_epoch(3)
    b2.set_epoch(3)
    assert all(torch.equal(y1, y2) for (_, y1), (_, y2) in zip(b1, b2))
    b2.set_epoch(4)
    assert not torch.equal(next(iter(b1))[1], next(iter(b2))[1])
    x, _ = next(iter(b1))
    assert x.dtype == torch.float32 and abs(float(x.mean())) < 0.5  # normalised per batch


def test_limit_keeps_a_stratified_subset():
    ds = D.load("digits", limit=200)
    assert len(ds.train) + len(ds.val) == 200
    assert torch.bincount(ds.train.y, minlength=10).min() >= 14


def test_csv_classification_with_string_labels(tmp_path):
    rows = ["a,b,species"] + [f"{i % 7},{(i * 3) % 5},{'cat' if i % 2 else 'dog'}" for i in range(60)]
    (tmp_path / "pets.csv").write_text("\n".join(rows))
    ds = D.load("csv", path=str(tmp_path / "pets.csv"), target="species")
    assert ds.spec.class_names == ["cat", "dog"] and ds.spec.input_shape == (2,)
    assert ds.spec.feature_names == ["a", "b"]


@pytest.mark.parametrize("content, target, message", [
    ("a,b,y\n1,2,0\n3,,1\n", "y", r"column 'b' has 1 missing/NaN values \(lines 3\)"),
    ("a,b,y\n1,nan,0\n3,4,1\n", "y", r"column 'b' has 1 missing/NaN"),
    ("a,city,y\n1,Paris,0\n3,Rome,1\n", "y", r"column 'city' is not numeric \('Paris' on line 2\)"),
    ("a,b,label\n1,2,0\n", "lable", r"target column 'lable' is not in .*\(did you mean 'label'\?\)"),
    ("a,b,y\n1,2\n", "y", r"line 2: 2 fields, the header has 3"),
])
def test_csv_errors_are_clear(tmp_path, content, target, message):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        D.load("csv", path=str(tmp_path / "d.csv"), target=target)


def test_csv_missing_file_and_not_utf8(tmp_path):
    with pytest.raises(DataError, match="CSV file not found"):
        D.load("csv", path=str(tmp_path / "nope.csv"), target="y")
    (tmp_path / "latin.csv").write_bytes("a,y\n\xe9t\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        D.load("csv", path=str(tmp_path / "latin.csv"), target="y")


def test_task_mismatch_is_a_config_error():
    from gradkit.engine import build_data, resolve

    with pytest.raises(ConfigError, match="data set 'diabetes' is for regression, but "
                                          "task.name=classification; set task.name=regression"):
        build_data(resolve(overrides=["data.name=diabetes"]))
    with pytest.raises(ConfigError, match="data set 'diabetes' holds values, not classes"):
        D.build(DataConfig(name="diabetes"), "classes", 0)


@needs_fashion
def test_fashion_mnist_read_from_debian_package():
    ds = D.load("fashion-mnist")
    assert ds.source == str(FASHION_DIR)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (54000, 6000, 10000)
    assert ds.spec.class_names[0] == "t-shirt/top"


@pytest.mark.parametrize("shape", [(10_000, 1, 8, 8), (9_000, 3, 4, 4), (9_500, 12, 3), (9_000, 5), (10_000,)])
def test_normalisation_statistics_in_chunks_equal_the_whole_split_in_float64(shape):
    """fit_stats works through float64 chunks (issue 24: no 340 MB copy of a whole split); its
    figures must be those of the whole split's mean and std, for every layout it handles."""
    from gradkit.data.base import CHUNK_EXAMPLES, fit_stats

    torch.manual_seed(0)
    x = (torch.rand(shape) * 255).to(torch.uint8) if len(shape) == 4 else torch.randn(shape) * 3 + 100
    assert len(x) > 2 * CHUNK_EXAMPLES  # several chunks, the last one short
    dims = {4: (0, 2, 3), 3: (0, 1)}.get(x.dim(), (0,))
    mean, std = fit_stats(x)
    whole = x.double()
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), whole.mean(dim=dims),
                               rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(torch.tensor(std, dtype=torch.float64), whole.std(dim=dims),
                               rtol=1e-10, atol=0)

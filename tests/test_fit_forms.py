"""`gk.fit` on data in the forms users have it (issue 17 part 1), each on real data: Fashion-MNIST
as numpy arrays, scikit-learn tables as DataFrames, a torch Dataset, a DataLoader used as given,
a Hugging Face datasets.Dataset, texts, a series; and the errors a wrong form gets."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import gradkit as gk
from gradkit.errors import ConfigError, DataError, GradkitError

from conftest import needs_fashion
from nets import Opaque, SmallNet

QUIET = {"verbose": False, "output": {"report": False}}


@pytest.fixture(scope="module")
def fashion():
    """6,000 training and 2,000 test images as a Keras user holds them: (N, 28, 28) uint8 and
    the class names as strings."""
    if not __import__("conftest").fashion_available():
        pytest.skip("Fashion-MNIST not installed")
    d = gk.data.load("fashion-mnist")
    names = np.array(d.spec.class_names)
    return (d.train.x[:6000, 0].numpy(), names[d.train.y[:6000].numpy()],
            d.test.x[:2000, 0].numpy(), names[d.test.y[:2000].numpy()])


def mlp(width: int = 128) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(width), nn.ReLU(), nn.Linear(width, 10))


@needs_fashion
def test_keras_style_arrays_train_predict_evaluate_and_reload(fashion, tmp_path):
    x, y, xt, yt = fashion
    run = gk.fit(SmallNet(128), x, y, epochs=3, test_data=(xt, yt), out=tmp_path / "run", **QUIET)
    assert run.metrics["test/accuracy"] > 0.78  # 6,000 images, 3 epochs (0.80 measured)
    assert run.spec.input_shape == (1, 28, 28) and run.spec.pixel_max == 255
    assert sorted(run.spec.class_names) == sorted(set(y))  # the user's own label strings
    top = run.classify(xt[:1], k=2)[0]
    assert top[0][0] in set(y) and top[0][1] >= top[1][1]
    scores = run.evaluate(xt, yt)
    assert scores["accuracy"] == pytest.approx(run.metrics["test/accuracy"], abs=1e-6)
    assert gk.evaluate(run.dir, x=xt[:500], y=yt[:500])["accuracy"] > 0.75
    # normalisation statistics come from the training images only and travel with the run
    train_mean = float(x.astype(np.float64).mean())
    assert run.spec.mean[0] == pytest.approx(train_mean, rel=0.02)
    # the run records the module honestly and gk.load rebuilds it from its class
    info = __import__("json").loads((run.dir / "run.json").read_text())
    assert info["custom_model"]["class"] == "nets.SmallNet"
    assert info["custom_model"]["init"] == {"hidden": 128, "classes": 10}
    assert run.config.model == {"name": "custom", "module": "nets.SmallNet"}
    again = gk.load(run.dir)
    np.testing.assert_allclose(again.predict(xt[:8]), run.predict(xt[:8]), atol=1e-6)
    # channels-last (N, H, W, C) inputs work too
    assert run.predict(xt[:4, :, :, None]).shape == (4, 10)


@needs_fashion
def test_a_module_that_cannot_be_rebuilt_says_what_to_pass(fashion, tmp_path):
    x, y, _, _ = fashion
    run = gk.fit(Opaque(10), x[:600], y[:600], epochs=1, out=tmp_path / "run", **QUIET)
    with pytest.raises(GradkitError, match=r"pass it: gk.load\(.*model=Opaque\(...\)\)"):
        gk.load(run.dir)
    assert gk.load(run.dir, model=Opaque(10)).predict(x[:2]).shape == (2, 10)
    seq = gk.fit(mlp(), x[:600], y[:600], epochs=1, out=tmp_path / "seq", **QUIET)
    with pytest.raises(GradkitError, match="could not read back"):
        gk.load(seq.dir)  # nn.Sequential(*layers): no constructor arguments to record


def test_dataframes_with_numeric_and_categorical_columns(tmp_path):
    """scikit-learn's wine as a DataFrame, with a text column and a Categorical target."""
    from sklearn.datasets import load_wine

    df = load_wine(as_frame=True).frame
    df["target"] = pd.Categorical.from_codes(df["target"], ["barolo", "grignolino", "barbera"])
    df["strong"] = np.where(df["alcohol"] > 13, "yes", "no")  # a categorical feature
    train, test = df.iloc[::2].reset_index(drop=True), df.iloc[1::2].reset_index(drop=True)
    torch.manual_seed(0)
    net = nn.Sequential(nn.LazyLinear(32), nn.ReLU(), nn.Linear(32, 3))
    run = gk.fit(net, train, target="target", test_data=test, epochs=60, lr=3e-3,
                 out=tmp_path / "run", **QUIET)
    assert run.metrics["test/accuracy"] > 0.9
    assert run.spec.class_names == ["barolo", "grignolino", "barbera"]  # the Categorical's order
    assert run.spec.feature_names[-2:] == ["strong=no", "strong=yes"]
    probs = run.predict(test.drop(columns="target").head(5))
    assert probs.shape == (5, 3)
    assert run.evaluate(test.drop(columns="target"), test["target"])["accuracy"] == pytest.approx(
        run.metrics["test/accuracy"], abs=1e-6)
    reloaded = gk.load(run.dir, model=nn.Sequential(nn.LazyLinear(32), nn.ReLU(), nn.Linear(32, 3)))
    np.testing.assert_allclose(reloaded.predict(test.drop(columns="target").head(5)), probs, atol=1e-6)
    with pytest.raises(DataError, match="lacks the column"):
        run.predict(test.drop(columns=["target", "strong"]))
    holes = train.copy()
    holes.loc[3, "alcohol"] = np.nan
    with pytest.raises(DataError, match=r"column 'alcohol' has 1 missing values \(rows \[3\]\)"):
        gk.fit(nn.LazyLinear(3), holes, target="target", out=tmp_path / "holes", **QUIET)


def test_regression_from_float_labels(tmp_path):
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    torch.manual_seed(0)
    run = gk.fit(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1)), x[:350], y[:350],
                 test_data=(x[350:], y[350:]), epochs=80, lr=3e-3, out=tmp_path / "run", **QUIET)
    assert run.config.task.name == "regression" and run.metrics["test/r2"] > 0.3
    assert run.predict(x[:3]).shape == (3,)


@needs_fashion
def test_torch_datasets_of_pairs_and_of_dicts(fashion, tmp_path):
    x, y, xt, yt = fashion
    names = sorted(set(y))
    ids = np.array([names.index(v) for v in y])
    xf = torch.from_numpy(x).float().unsqueeze(1) / 255  # as ToTensor() gives them
    run = gk.fit(mlp(), TensorDataset(xf, torch.from_numpy(ids)), epochs=3,
                 test_data=TensorDataset(torch.from_numpy(xt).float().unsqueeze(1) / 255,
                                         torch.tensor([names.index(v) for v in yt])),
                 out=tmp_path / "pairs", **QUIET)
    assert run.metrics["test/accuracy"] > 0.78 and run.spec.pixel_max == 1

    class Dicts(Dataset):
        def __len__(self):
            return 3000

        def __getitem__(self, i):
            return {"pixels": xf[i], "kind": int(ids[i])}

    run = gk.fit(mlp(), Dicts(), columns=("pixels", "kind"), epochs=2, out=tmp_path / "dicts", **QUIET)
    assert run.metrics["val/accuracy"] > 0.7
    with pytest.raises(DataError, match="name the input and label keys"):
        gk.fit(mlp(), Dicts(), epochs=1, out=tmp_path / "nokeys", **QUIET)


@needs_fashion
def test_a_dataloader_is_used_as_given(fashion, tmp_path):
    x, y, xt, yt = fashion
    names = sorted(set(y))
    xf = torch.from_numpy(x).float().unsqueeze(1) / 255
    ids = torch.tensor([names.index(v) for v in y])
    seen = []

    class Counting(torch.utils.data.Sampler):
        """A user's own sampler: the loader must be iterated through it, batch size and all."""

        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __iter__(self):
            order = torch.randperm(self.n).tolist()
            seen.append(len(order))
            return iter(order)

    train = DataLoader(TensorDataset(xf, ids), batch_size=50, sampler=Counting(len(xf)))
    val = DataLoader(TensorDataset(xf[:500], ids[:500]), batch_size=100)
    run = gk.fit(mlp(), train, validation_data=val, test_data=(xt[:, None] / 255.0, yt), epochs=2,
                 out=tmp_path / "run", **QUIET)
    assert seen == [6000, 6000]  # once per epoch, through the user's sampler
    history = [__import__("json").loads(r) for r in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert run.metrics["test/accuracy"] > 0.75 and len(history) == 2
    with pytest.raises(DataError, match="pass validation_data="):
        gk.fit(mlp(), train, epochs=1, out=tmp_path / "noval", **QUIET)


@needs_fashion
def test_a_hugging_face_dataset_keeps_its_class_names(fashion, tmp_path):
    datasets = pytest.importorskip("datasets")
    x, y, _, _ = fashion
    names = sorted(set(y))
    feats = datasets.Features({"image": datasets.Array2D((28, 28), "uint8"),
                               "label": datasets.ClassLabel(names=names)})
    ds = datasets.Dataset.from_dict({"image": x[:3000], "label": [names.index(v) for v in y[:3000]]},
                                    features=feats)
    run = gk.fit(mlp(64), ds, epochs=2, out=tmp_path / "run", **QUIET)
    assert run.spec.class_names == names and run.metrics["val/accuracy"] > 0.7


def test_a_series_forecast_with_a_users_module(tmp_path):
    pytest.importorskip("statsmodels")
    values = gk.data.load("sunspots").train.x[:, 0, 0].numpy()  # any 1-D series of numbers
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(1))
    run = gk.fit(net, values, epochs=40, lr=3e-3, data={"input_length": 12},
                 out=tmp_path / "run", **QUIET)
    assert run.config.task.name == "forecast" and run.spec.input_shape == (12, 1)
    assert run.metrics["test/mase"] < 2.0 and run.predict(values[-12:]).shape == (1, 1)


@pytest.mark.parametrize("args, error, message", [
    (lambda x, y: (x[:10], y[:9]), DataError, "9 labels for 10 examples"),
    (lambda x, y: (x[:10], np.r_[np.nan, y[1:10].astype(float)]), DataError, "missing or infinite"),
    (lambda x, y: ([[1, 2], [3]] * 5, y[:10]), DataError, "ragged"),
    (lambda x, y: (x[:10], y[:10] + 0.5), DataError, "fractional numbers, which are values"),
])
def test_bad_arrays_are_clear_errors(args, error, message, tmp_path):
    x, y = np.random.default_rng(0).random((10, 4)).astype(np.float32), np.arange(10) % 2
    xs, ys = args(x, y)
    kwargs = {"task": "classification"} if "fractional" in message else {}
    with pytest.raises(error, match=message):
        gk.fit(nn.LazyLinear(2), xs, ys, out=tmp_path / "run", **kwargs, **QUIET)


@pytest.mark.parametrize("module, message", [
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), r"rejects this data: model\(x\) for a "
     r"batch x of shape \(2, 4\) .* raised RuntimeError: mat1 and mat2"),
    (lambda: nn.Sequential(nn.LazyLinear(2), nn.Softmax(-1)), "ends in nn.Softmax"),
    (lambda: nn.Sequential(nn.LazyLinear(2), nn.Sigmoid()), "ends in nn.Sigmoid"),
    (lambda: nn.LazyLinear(5), r"returns \(2, 5\) .* takes \(batch, 2\) logits"),
])
def test_a_module_that_does_not_fit_fails_before_training(module, message, tmp_path):
    x, y = np.random.default_rng(0).random((40, 4)).astype(np.float32), np.arange(40) % 2
    with pytest.raises(ConfigError, match=message):
        gk.fit(module(), x, y, out=tmp_path / "run", **QUIET)
    assert not (tmp_path / "run").exists()  # nothing written for a run that never started


class Bag(nn.Module):
    """Token ids -> class logits: the mean of the tokens' embeddings (padding, id 0, left out)."""

    def __init__(self, vocab: int, classes: int) -> None:
        super().__init__()
        self.vocab, self.classes = vocab, classes
        self.embed = nn.EmbeddingBag(vocab, 64, mode="mean", padding_idx=0)
        self.head = nn.Linear(64, classes)

    def forward(self, ids):
        return self.head(self.embed(ids))


def test_texts_and_their_labels(tmp_path):
    """WordNet glosses and their supersenses as lists of strings: a vocabulary is learnt on the
    training texts, and predict takes strings."""
    if not __import__("pathlib").Path("/usr/share/wordnet/data.noun").is_file():
        pytest.skip("WordNet not installed: apt-get install wordnet-base (.ci/run does)")
    ds = gk.data.load("wordnet-supersenses", top_k=5, limit=3000)
    texts, labels = ds.train.text, [ds.spec.class_names[i] for i in ds.train.y.tolist()]
    test = (ds.test.text[:1000], [ds.spec.class_names[i] for i in ds.test.y[:1000].tolist()])
    torch.manual_seed(0)
    run = gk.fit(Bag(2000, 5), texts, labels, test_data=test, epochs=8, lr=3e-3,
                 data={"vocab_size": 2000, "max_length": 32}, out=tmp_path / "run", **QUIET)
    majority = run.metrics["baseline/majority/accuracy"]
    assert run.metrics["test/accuracy"] > majority + 0.15
    assert run.predict(["a person who flies aircraft", "a kind of tree"]).shape == (2, 5)


@needs_fashion
def test_predict_and_evaluate_take_torch_data_too(fashion, tmp_path):
    x, y, xt, yt = fashion
    names = sorted(set(y))
    train = TensorDataset(torch.from_numpy(x[:2000]).float().unsqueeze(1),
                          torch.tensor([names.index(v) for v in y[:2000]]))
    test = TensorDataset(torch.from_numpy(xt[:500]).float().unsqueeze(1),
                         torch.tensor([names.index(v) for v in yt[:500]]))
    run = gk.fit(mlp(64), train, epochs=1, out=tmp_path / "run", **QUIET)
    loader = DataLoader(test, batch_size=100)
    assert run.predict(loader).shape == (500, 10)
    np.testing.assert_allclose(run.predict(test), run.predict(test.tensors[0].numpy()), atol=1e-6)
    assert run.evaluate(loader)["accuracy"] == pytest.approx(
        run.evaluate(test.tensors[0].numpy(), test.tensors[1].numpy())["accuracy"])


def test_a_data_set_built_in_python_is_named_for_recipes_and_checks(tmp_path):
    """gk.data.add names a DataFrame's data set: a recipe trains on it by name, check-data
    checks it, and the run reloads where that name was never added (a fresh process)."""
    import subprocess
    import sys

    from sklearn.datasets import load_diabetes

    from gradkit.doctor import check_data

    df = load_diabetes(as_frame=True).frame
    gk.data.add("diabetes-frame", gk.data.from_dataframe(df, target="target"))
    run = gk.train("diabetes-linear", data={"name": "diabetes-frame"}, out=tmp_path / "run", **QUIET)
    assert run.config.data.name == "diabetes-frame" and run.metrics["val/r2"] > 0.2
    found = check_data("diabetes-linear", ["data.name=diabetes-frame"])
    assert found.count("error") == 0 and found.findings[0].check == "splits"
    code = (f"import gradkit as gk; r = gk.load({str(run.dir)!r}); "
            "import sklearn.datasets as d; x = d.load_diabetes(as_frame=True).frame.drop(columns='target'); "
            "print(r.predict(x.head(3)).shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "(3,)" in out.stdout, out.stderr

"""Time series: chronological windows without look-ahead, MASE, naive baselines, the recipes."""
import sys

import numpy as np
import pytest
import torch

import gradkit as gk
from gradkit.config import DataConfig
from gradkit.data import series
from gradkit.errors import DataError
from gradkit.metrics import forecast_metrics
from gradkit.metrics.baselines import forecast_baselines, naive_forecasts
from gradkit.models import build as build_model
from gradkit.training.loop import better


@pytest.fixture(autouse=True)
def _keep_threads():
    """The recipes train tiny models on one thread (train.threads=1), which is process-wide."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def dataset(values, **options):
    """A series data set over `values`, its time labels being the positions 0..n-1."""
    cfg = DataConfig(name="series-csv", **{"input_length": 8, "horizon": 3, **options})
    values = np.asarray(values, dtype=np.float64)
    return series.make_series_dataset("toy", values, np.arange(len(values), dtype=float), cfg,
                                      1, "test", [], "value")


def noisy_sine(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return 10 + 5 * np.sin(np.arange(n) / 3) + rng.normal(size=n)


def test_windows_are_the_past_and_the_next_values():
    values = np.arange(100, dtype=float) * 2
    ds = dataset(values)
    for split in (ds.train, ds.val, ds.test):
        for x, y, t in zip(split.x, split.y, split.time.astype(int)):
            assert torch.equal(x[:, 0], torch.tensor(values[t - 8:t], dtype=torch.float32))
            assert torch.equal(y, torch.tensor(values[t:t + 3], dtype=torch.float32))


def test_chronological_parts_and_boundaries():
    ds = dataset(noisy_sine(100), val_fraction=0.1, test_fraction=0.2)  # parts 70 / 10 / 20
    first = {name: getattr(ds, name).time.astype(int) for name in ("train", "val", "test")}
    # Every target of a window lies in its own part: first targets t, last t + 2.
    assert first["train"].tolist() == list(range(8, 70 - 2))
    assert first["val"].tolist() == list(range(70, 80 - 2))
    assert first["test"].tolist() == list(range(80, 100 - 2))
    # Val and test windows read their inputs from before their part (the train/val values).
    assert ds.val.x[0, 0, 0] == pytest.approx(noisy_sine(100)[62])
    assert "train 0..69 (70), val 70..79 (10), test 80..99 (20)" in ds.notes[-1]


@pytest.mark.parametrize("cut", [40, 75, 90])  # in the train, val and test parts
def test_no_look_ahead(cut):
    """Changing the series from `cut` on changes no input of a window whose targets start at
    or before `cut`, nor any target before `cut`."""
    before = noisy_sine(100)
    after = before.copy()
    after[cut:] += np.random.default_rng(1).normal(0, 50, size=100 - cut)
    a, b = dataset(before), dataset(after)
    checked = 0
    for name in ("train", "val", "test"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert np.array_equal(sa.time, sb.time)
        early = sa.time <= cut
        assert torch.equal(sa.x[early], sb.x[early])
        whole = sa.time + 3 <= cut  # all three targets before the cut
        assert torch.equal(sa.y[whole], sb.y[whole])
        checked += int(early.sum())
    assert checked > 0


def test_scaling_and_mase_scale_come_from_the_train_part_alone():
    values = noisy_sine(100)
    ds = dataset(values, season=4)
    train = values[:70]
    assert ds.spec.mean == [pytest.approx(train.mean())]
    assert ds.spec.std == [pytest.approx(train.std(ddof=1))]
    assert ds.spec.target_mean == pytest.approx(train.mean())
    assert ds.spec.mase_scale == pytest.approx(np.mean([abs(train[t] - train[t - 4]) for t in range(4, 70)]))
    changed = values.copy()
    changed[70:] *= 100  # val and test values do not move the statistics
    spec = dataset(changed, season=4).spec
    assert (spec.mean, spec.std, spec.mase_scale) == (ds.spec.mean, ds.spec.std, ds.spec.mase_scale)
    assert ds.spec.output_dim == 3 and ds.spec.input_shape == (8, 1)


def test_mase_against_a_hand_computation():
    train = np.array([1.0, 3.0, 2.0, 5.0])
    assert series.naive_mae(train, 1) == pytest.approx((2 + 1 + 3) / 3)
    pred = torch.tensor([[4.0, 6.0], [5.0, 5.0]])
    target = torch.tensor([[5.0, 5.0], [7.0, 4.0]])
    # errors 1, 1, 2, 1: MAE 1.25, RMSE sqrt(7/4), MASE 1.25 / 2
    out = forecast_metrics(pred, target, mase_scale=2.0)
    assert out == pytest.approx({"mae": 1.25, "rmse": (7 / 4) ** 0.5, "mase": 0.625})


@pytest.mark.parametrize("season", [1, 4])
def test_naive_baselines_match_a_plain_loop(season):
    values = noisy_sine(100)
    ds = dataset(values, season=season)
    got = forecast_baselines(ds)
    for name, lag in (("persistence", 1), ("seasonal-naive", season)):
        if name == "seasonal-naive" and season == 1:
            assert not any(k.startswith("baseline/seasonal-naive") for k in got)
            continue
        errors = []
        for t in ds.test.time.astype(int):  # first target of each test window, as the model's
            for h in range(3):
                # the latest value observed before t that is a whole number of seasons back
                source = t + h - lag * ((h // lag) + 1)
                assert source < t
                errors.append(values[source] - values[t + h])
        errors = np.abs(errors)
        assert got[f"baseline/{name}/mae"] == pytest.approx(errors.mean(), rel=1e-5)
        assert got[f"baseline/{name}/rmse"] == pytest.approx(np.sqrt((errors ** 2).mean()), rel=1e-5)
        assert got[f"baseline/{name}/mase"] == pytest.approx(errors.mean() / ds.spec.mase_scale, rel=1e-5)
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert naive_forecasts(x, 3, 1).tolist() == [[5.0, 5.0, 5.0]]
    assert naive_forecasts(x, 3, 2).tolist() == [[4.0, 5.0, 4.0]]


def test_mase_is_lower_is_better():
    assert better(0.5, 0.6, "val/mase") and not better(0.7, 0.6, "val/mase")


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm", "transformer"])
def test_sequence_models_forecast_horizon_values(name):
    spec = dataset(noisy_sine(100)).spec
    model = build_model({"name": name}, spec)
    out = model(torch.randn(5, 8, 1))
    assert out.shape == (5, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_series_csv_reads_a_column_and_fills_gaps(tmp_path):
    rows = "".join(f"{1990 + i},{'' if i == 5 else i * 1.5}\n" for i in range(60))
    path = write_csv(tmp_path / "s.csv", "year,value\n" + rows)
    ds = gk.data.load("series-csv", path=path, column="value", time_column="year", input_length=6)
    assert ds.spec.task == "forecast" and ds.spec.input_shape == (6, 1)
    assert "1 missing value(s)" in ds.notes[0] and "interpolation" in ds.notes[0]
    assert ds.test.time[0] == 2038.0  # 60 rows: train 42, val 6, test 12
    assert float(ds.train.x[0, 5, 0]) == pytest.approx(7.5)  # the gap, interpolated


def test_bad_series_inputs_are_clear_errors(tmp_path):
    path = write_csv(tmp_path / "s.csv", "year,value\n" + "".join(f"{i},{i}\n" for i in range(50)))
    with pytest.raises(DataError, match=r"column 'valeu' is not in .*did you mean 'value'"):
        gk.data.load("series-csv", path=path, column="valeu")
    with pytest.raises(DataError, match="too short.*train part has 35 values, fewer than "
                                        "input_length \\+ horizon = 42"):
        gk.data.load("series-csv", path=path, column="value", input_length=40, horizon=2)
    with pytest.raises(DataError, match="test part has 10 values, fewer than horizon = 12"):
        gk.data.load("series-csv", path=path, column="value", input_length=4, horizon=12)
    bad = write_csv(tmp_path / "b.csv", "value\n1\n2\nn/a\n4\n")
    with pytest.raises(DataError, match=r"line 4: column 'value' holds 'n/a', not a number"):
        gk.data.load("series-csv", path=bad, column="value")
    with pytest.raises(DataError, match="needs data.path=FILE.csv and data.column=COLUMN"):
        gk.data.load("series-csv", path=path)


def test_missing_statsmodels_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels.datasets", None)  # import -> ImportError
    with pytest.raises(DataError, match=r"pip install 'gradkit\[series\]'"):
        gk.data.load("sunspots")


def test_bundled_series():
    sun = gk.data.load("sunspots")
    assert sun.spec.season == 11 and sun.spec.input_shape == (24, 1)
    assert sun.test.time[-1] == 2008.0 and len(sun.train) + 24 + len(sun.val) + len(sun.test) == 309
    co2 = gk.data.load("co2")
    assert co2.spec.season == 52 and co2.spec.input_shape == (104, 1)  # two seasons by default
    assert "59 missing value(s)" in co2.notes[0]
    assert not torch.isnan(co2.train.x).any()
    assert gk.data.load("nile").spec.season == 1


@pytest.mark.parametrize("recipe", ["sunspots-rnn", "sunspots-gru", "sunspots-lstm"])
def test_sunspots_recipes_smoke(recipe, tmp_path):
    run = gk.train(recipe, train={"epochs": 1}, output={"dir": str(tmp_path)}, verbose=False)
    assert {"test/mase", "baseline/persistence/mase", "baseline/seasonal-naive/mase"} <= set(run.metrics)
    html = (run.dir / "report.html").read_text()
    assert 'id="forecast-plot"' in html and "Model vs naive forecasts" in html
    samples = np.load(run.dir / "artifacts" / "samples.npz")
    assert samples["pred"].shape == samples["y"].shape == (62, 1)
    assert samples["time"][0] == 1947.0
    assert run.predict(np.arange(24.0)).shape == (1, 1)  # one raw window of 24 years


def test_sunspots_lstm_beats_persistence(tmp_path):
    """The recipe as shipped, on the real series: honest, not a tuned threshold."""
    run = gk.train("sunspots-lstm", output={"dir": str(tmp_path), "report": False}, verbose=False)
    m = run.metrics
    assert m["test/mase"] < m["baseline/persistence/mase"]
    assert m["test/mase"] < m["baseline/seasonal-naive/mase"]

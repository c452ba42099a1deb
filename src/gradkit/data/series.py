"""Time series as forecasting windows: your CSV column, or statsmodels' sunspots, co2 and nile.

A series of n values is cut in time order into a train, a val and a test part (the last
`test_fraction` of the values is the test part, the `val_fraction` before it the val part);
nothing is shuffled across time. A window is `input_length` past values (the inputs) and the
next `horizon` values (the targets), one window per forecast origin, stride 1:

    values  ... | train part ............ | val part ...... | test part ...... |
    window        [ inputs (L) ][targets (H)]
    test window                              [ inputs (L) ][targets (H)]

Train windows lie wholly in the train part. A val or test window may read its inputs from
earlier parts (they were observed before its forecast origin), but every target lies in the
window's own part, so no value is a target in two parts and no input comes after its targets.
The scaling (mean, std) and MASE's denominator are computed on the train part alone. Inputs
are kept raw and standardised per batch like every other data set; targets stay in the series'
units and the task scales them with `spec.target_mean`/`target_std`, so metrics are in units.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split
from gradkit.data.tabular import parse_numbers, read_csv
from gradkit.errors import DataError, did_you_mean

# name: (statsmodels.datasets module, value column, time column (None: the index), season, unit)
BUNDLED = {
    "sunspots": ("sunspots", "SUNACTIVITY", "YEAR", 11, "year"),  # the ~11-year solar cycle
    "co2": ("co2", "co2", None, 52, "week"),  # the yearly cycle of weekly Mauna Loa readings
    "nile": ("nile", "volume", "year", 1, "year"),  # yearly flow: no season, 1 = plain persistence
}
DEFAULT_INPUT_LENGTH = 24  # steps; at least two seasons are read when the season is longer


def load_bundled(name: str, cfg: Any) -> Dataset:
    """A series that ships with statsmodels (`pip install 'gradkit[series]'`)."""
    module, column, time_column, season, unit = BUNDLED[name]
    try:
        import statsmodels.datasets as sm_datasets
    except ImportError:
        raise DataError(f"data set '{name}' comes with statsmodels, which is not installed: "
                        "pip install 'gradkit[series]'") from None
    frame = getattr(sm_datasets, module).load_pandas().data
    values = frame[column].to_numpy(dtype=np.float64)
    if time_column is None:  # co2: a weekly DatetimeIndex
        time = np.asarray(frame.index.strftime("%Y-%m-%d"), dtype=str)
    else:
        time = frame[time_column].to_numpy(dtype=np.float64)
    values, notes = fill_gaps(values, f"{name}'s '{column}' column", unit)
    return make_series_dataset(name, values, time, cfg, season, f"statsmodels.datasets.{module}",
                               notes, column)


def load_series_csv(cfg: Any) -> Dataset:
    """One numeric column of a CSV file (rows in time order); `data.time_column` labels the rows."""
    if not cfg.path or not cfg.column:
        raise DataError("data.name=series-csv needs data.path=FILE.csv and data.column=COLUMN "
                        "(the series' values; rows in time order)")
    file = Path(cfg.path).expanduser()
    header, rows = read_csv(file)
    values = _numbers([r[_index(cfg.column, header, file, "data.column")] for r in rows],
                      cfg.column, file)
    time = None
    if cfg.time_column:
        labels = [r[_index(cfg.time_column, header, file, "data.time_column")].strip() for r in rows]
        time = _time_labels(labels)
    values, notes = fill_gaps(values, f"column '{cfg.column}'", "row")
    return make_series_dataset(file.stem, values, time, cfg, 1, str(file), notes, cfg.column)


def _index(name: str, header: list[str], file: Path, key: str) -> int:
    if name not in header:
        raise DataError(f"{key}: column '{name}' is not in {file}{did_you_mean(name, header)}; "
                        f"columns: {', '.join(header)}")
    return header.index(name)


def _numbers(texts: list[str], name: str, file: Path) -> np.ndarray:
    """Floats, NaN for an empty cell; text that is not a number is an error naming its line."""
    out, bad = parse_numbers(texts)
    if bad is not None:
        raise DataError(f"{file} line {bad + 2}: column '{name}' holds '{texts[bad].strip()}', not a "
                        "number; a series must be numeric (leave a missing value empty)")
    return out


def _time_labels(labels: list[str]) -> np.ndarray:
    """Numbers when every label is one (years), else the labels as text (dates)."""
    try:
        return np.array([float(t) for t in labels], dtype=np.float64)
    except ValueError:
        return np.array(labels, dtype=str)


def fill_gaps(values: np.ndarray, what: str, unit: str) -> tuple[np.ndarray, list[str]]:
    """Missing values filled by linear interpolation between their neighbours (the nearest
    value at either end), with a note saying how many; a series with no value is an error."""
    missing = np.isnan(values)
    if not missing.any():
        return values, []
    if missing.all():
        raise DataError(f"{what} has no values")
    pos = np.arange(len(values))
    filled = values.copy()
    filled[missing] = np.interp(pos[missing], pos[~missing], values[~missing])
    return filled, [f"{int(missing.sum())} missing value(s) of {len(values)} {unit}s in {what} "
                    "were filled by linear interpolation between their neighbours"]


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) part lengths, in time order; val and test rounded up."""
    # round first: 0.1 * 60 is 6.000000000000001 in floating point, which must stay 6
    n_test = math.ceil(round(test_fraction * n, 6))
    n_val = math.ceil(round(val_fraction * n, 6))
    return n - n_val - n_test, n_val, n_test


def windows(values: np.ndarray, start: int, stop: int, length: int, horizon: int
            ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Windows whose targets lie in values[start:stop]: inputs (N, length, 1), targets
    (N, horizon), and the index of each window's first target (its forecast origin + 1)."""
    first = np.arange(max(start, length), stop - horizon + 1)  # (N,)
    x = values[first[:, None] + np.arange(-length, 0)]  # (N, length): the values before each origin
    y = values[first[:, None] + np.arange(horizon)]  # (N, horizon)
    return (torch.from_numpy(x.astype(np.float32)).unsqueeze(-1),
            torch.from_numpy(y.astype(np.float32)), first)


def naive_mae(values: np.ndarray, season: int) -> float:
    """Mean |y_t - y_{t-season}| over a series: the in-sample (seasonal) naive forecast's MAE,
    the denominator of MASE (Hyndman & Koehler 2006)."""
    return float(np.abs(values[season:] - values[:-season]).mean())


def make_series_dataset(name: str, values: np.ndarray, time: np.ndarray | None, cfg: Any,
                        natural_season: int, source: str, notes: list[str], column: str) -> Dataset:
    """Chronological parts -> windows, with scaling and MASE's scale from the train part only."""
    season = cfg.season or natural_season
    length = cfg.input_length or max(DEFAULT_INPUT_LENGTH, 2 * season)
    horizon = cfg.horizon
    if cfg.limit is not None:
        raise DataError("data.limit subsamples examples, which a series cannot do without gaps "
                        "in time; shorten the series file instead")
    if season > length:
        raise DataError(f"data.season={season} is longer than data.input_length={length}: the "
                        "seasonal-naive baseline reads the value one season back inside each "
                        f"window; set data.input_length={season} or more")
    n_train, n_val, n_test = split_sizes(len(values), cfg.val_fraction, cfg.test_fraction)
    _check_lengths(name, n_train, n_val, n_test, length, horizon)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val),
              "test": (n_train + n_val, len(values))}
    splits = {}
    for part, (start, stop) in bounds.items():
        x, y, first = windows(values, start, stop, length, horizon)
        splits[part] = Split(x, y, time=None if time is None else time[first])
    train = values[:n_train]
    mean, std = float(train.mean()), float(max(train.std(ddof=1), 1e-6))
    scale = naive_mae(train, season)
    if scale <= 0:
        raise DataError(f"data set '{name}': the train part's values never change (the naive "
                        "forecast is exact), so MASE is undefined; check the column")
    spec = DataSpec("forecast", "series", (length, 1), feature_names=[column], mean=[mean],
                    std=[std], target_mean=mean, target_std=std, horizon=horizon, season=season,
                    mase_scale=scale)
    notes = notes + [_parts_note(bounds, time)]
    return Dataset(name, spec, splits["train"], splits["val"], splits["test"], source, notes)


def _check_lengths(name: str, n_train: int, n_val: int, n_test: int, length: int,
                   horizon: int) -> None:
    # The train part holds whole windows; val and test windows read their inputs from before.
    short = []
    if n_train < length + horizon:
        short.append(f"the train part has {n_train} values, fewer than input_length + horizon = "
                     f"{length + horizon}")
    for part, n in (("val", n_val), ("test", n_test)):
        if 0 < n < horizon:
            short.append(f"the {part} part has {n} values, fewer than horizon = {horizon}")
    if short:
        raise DataError(f"data set '{name}' is too short for these windows: {'; '.join(short)}. "
                        "Lower data.input_length or data.horizon, or change data.val_fraction / "
                        "data.test_fraction")


def _parts_note(bounds: dict[str, tuple[int, int]], time: np.ndarray | None) -> str:
    def label(i: int) -> str:
        if time is None:
            return f"#{i}"
        t = time[i]
        return f"{t:g}" if isinstance(t, (float, np.floating)) else str(t)

    parts = [f"{part} {label(a)}..{label(b - 1)} ({b - a})" for part, (a, b) in bounds.items() if b > a]
    return "chronological parts: " + ", ".join(parts)


@register("series-csv", "series", "your series: data.path=FILE data.column=COLUMN")
def _series_csv(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_series_csv(cfg)


def _bundled(name: str):
    def build(cfg: Any, targets: str, seed: int) -> Dataset:
        return load_bundled(name, cfg)

    return build


register("sunspots", "series", "yearly sunspot numbers 1700-2008 (statsmodels)")(_bundled("sunspots"))
register("co2", "series", "weekly Mauna Loa CO2 1958-2001, gaps interpolated (statsmodels)")(_bundled("co2"))
register("nile", "series", "yearly Nile flow at Aswan 1871-1970 (statsmodels)")(_bundled("nile"))

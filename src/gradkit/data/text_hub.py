"""Named text sets from the Hugging Face hub (`ag-news`, `imdb`), found on disk first.

Looked for, in order: a folder holding `train.csv` and `test.csv` (columns text,label) under
`data.dir`, `$GRADKIT_DATA`, the user cache or the system data folders (`<root>/ag-news/`, ...);
then, with `data.download=true`, Hugging Face `datasets` (which keeps its own cache, so a set
downloaded once loads offline afterwards), and the CSVs are written to gradkit's cache. Offline
and missing, the error lists the folders looked in and the three ways to get the set.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradkit.data import register
from gradkit.data.base import Dataset
from gradkit.data.resolve import cache_dir, missing_message, search_dirs
from gradkit.errors import DataError


@dataclass(frozen=True)
class HubText:
    hub_id: str  # the dataset's id on the Hugging Face hub
    classes: list[str]  # names of its integer labels, in order
    about: str


HUB_TEXT = {
    "ag-news": HubText("fancyzhx/ag_news", ["World", "Sports", "Business", "Sci/Tech"],
                       "120,000 + 7,600 news titles and descriptions, 4 topics (Zhang et al. 2015)"),
    "imdb": HubText("stanfordnlp/imdb", ["neg", "pos"],
                    "25,000 + 25,000 movie reviews, positive or negative (Maas et al. 2011)"),
}


def find_local(name: str, data_dir: str | None) -> tuple[Path | None, list[Path]]:
    looked = search_dirs(name, data_dir, [name, name.replace("-", "_")])
    found = next((p for p in looked if (p / "train.csv").is_file() and (p / "test.csv").is_file()), None)
    return found, looked


def _download(name: str) -> Path:
    """Fetch through `datasets` and keep train.csv/test.csv in gradkit's cache."""
    try:
        import datasets
    except ImportError:
        raise RuntimeError("Hugging Face `datasets` is not installed (pip install datasets)") from None
    entry = HUB_TEXT[name]
    folder = cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    loaded = datasets.load_dataset(entry.hub_id)
    for split in ("train", "test"):
        tmp = folder / f".{split}.csv.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            for row in loaded[split]:
                writer.writerow([row["text"], entry.classes[int(row["label"])]])
        tmp.replace(folder / f"{split}.csv")  # atomic: a half-written CSV is never found
    return folder


def load_hub_text(name: str, cfg: Any, seed: int) -> Dataset:
    """`ag-news` or `imdb` as a text-classification `Dataset` (vocabulary learnt on train)."""
    from gradkit.data.text import build_text_dataset, read_text_csv

    folder, looked = find_local(name, cfg.dir)
    error = None
    if folder is None and cfg.download:
        try:
            folder = _download(name)
        except Exception as exc:  # offline, hub down, datasets missing: all end in one message
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if folder is None:
        how = (f"run once online with `pip install datasets` (it downloads {HUB_TEXT[name].hub_id} "
               f"from the Hugging Face hub), or put train.csv and test.csv (columns text,label) in "
               f"one of the folders above, or give any CSV: data.name=text-csv data.path=FILE.csv")
        raise DataError(missing_message(name, looked, how, error))
    texts, labels, splits, notes = [], [], [], []
    for split in ("train", "test"):
        t, lab, _, n = read_text_csv(folder / f"{split}.csv")
        texts += t
        labels += lab
        splits += [split] * len(t)
        notes += [f"{split}.csv: {line}" for line in n]
    return build_text_dataset(name, texts, labels, splits, cfg, seed, str(folder), notes)


@register("ag-news", "classes", "127,600 news texts, 4 topics (Hugging Face hub)")
def _ag_news(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_hub_text("ag-news", cfg, seed)


@register("imdb", "classes", "50,000 movie reviews, positive or negative (Hugging Face hub)")
def _imdb(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_hub_text("imdb", cfg, seed)

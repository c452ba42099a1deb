"""Text classification data: your CSV of (text, label[, split]) and WordNet's supersenses.

Texts become fixed-width rows of token ids (padded with 0 on the right; batches are trimmed to
their longest row, so padding costs nothing). A from-scratch model's vocabulary is trained with
the `tokenizers` library on the training split only, never on validation or test text; its JSON
travels in the `DataSpec`, so a saved run tokenises new text exactly as in training.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.data import register
from gradkit.data.base import DataSpec, Dataset, Split, stratified_split
from gradkit.data.resolve import search_dirs
from gradkit.data.tabular import read_csv
from gradkit.errors import DataError, did_you_mean

PAD, UNK = "[PAD]", "[UNK]"  # ids 0 and 1 in every vocabulary we train
SPLITS = ("train", "val", "test")

# WordNet 3.0's lexicographer files (lexnames(5WN)): a synset's file number is its supersense.
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
]
POS_FILES = {"noun": ["data.noun"], "verb": ["data.verb"], "adj": ["data.adj"], "adv": ["data.adv"],
             "all": ["data.noun", "data.verb", "data.adj", "data.adv"]}
# Debian's wordnet-base, then NLTK's data folders (nltk.download("wordnet") unpacks it there).
WORDNET_DIRS = [Path("/usr/share/wordnet"), Path("/usr/local/share/wordnet"),
                *(Path(p) / "corpora" / "wordnet" for p in
                  [Path.home() / "nltk_data", "/usr/share/nltk_data", "/usr/local/share/nltk_data",
                   "/usr/lib/nltk_data", "/usr/local/lib/nltk_data"])]


# ---------------------------------------------------------------- reading


def read_text_csv(path: str | Path) -> tuple[list[str], list[str], list[str] | None, list[str]]:
    """(texts, labels, splits or None, notes) from a CSV with columns text,label[,split].

    Rows with an empty text are skipped and counted in the notes; an empty label or an unknown
    split name is an error naming the line.
    """
    file = Path(path).expanduser()
    header, raw_rows = read_csv(file)
    for need in ("text", "label"):
        if need not in header:
            raise DataError(f"{file}: no '{need}' column{did_you_mean(need, header)}; a text CSV "
                            f"needs columns text,label and optionally split (has: {', '.join(header)})")
    rows = [dict(zip(header, row)) for row in raw_rows]
    has_split = "split" in header
    texts, labels, splits, empty = [], [], [], []
    for line, row in enumerate(rows, start=2):
        text, label = row["text"].strip(), row["label"].strip()
        if not text:
            empty.append(line)
            continue
        if not label:
            raise DataError(f"{file} line {line}: empty label; fill it or drop the row")
        if has_split:
            split = row["split"].strip().lower()
            split = {"valid": "val", "validation": "val", "dev": "val"}.get(split, split)
            if split not in SPLITS:
                raise DataError(f"{file} line {line}: split '{row['split']}' is not one of "
                                f"train, val, test{did_you_mean(split, SPLITS)}")
            splits.append(split)
        texts.append(text)
        labels.append(label)
    notes = []
    if empty:
        shown = ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else "")
        notes.append(f"skipped {len(empty)} row(s) with an empty text (lines {shown})")
    if not texts:
        raise DataError(f"{file} has no rows with text")
    return texts, labels, splits if has_split else None, notes


def wordnet_dirs(data_dir: str | None) -> list[Path]:
    """Where WordNet is looked for: gradkit's usual places (data.dir, $GRADKIT_DATA, the cache,
    system data folders; each also with wordnet/ and dict/), then Debian's and NLTK's."""
    return [*search_dirs("wordnet", data_dir, ["wordnet", "dict"]), *WORDNET_DIRS]


def find_wordnet(data_dir: str | None) -> Path | None:
    """A folder holding WordNet 3.0's database files (data.noun, ...), or None."""
    return next((p for p in wordnet_dirs(data_dir) if (p / "data.noun").is_file()), None)


def gloss_definition(gloss: str) -> str:
    """A synset's gloss without its quoted examples: 'an action; "how could you..."' -> 'an action'."""
    return gloss.split('; "')[0].strip().rstrip(";").strip()


def wordnet_split(offset: str) -> str:
    """About 1 in 5 synsets is test, fixed by a hash of its offset (not by the seed), as in
    `shared/datasets/wordnet_supersenses.py`, so every run and the shipped CSV agree."""
    return "test" if int(hashlib.sha1(offset.encode()).hexdigest(), 16) % 5 == 0 else "train"


def read_wordnet(folder: Path, pos: str) -> tuple[list[str], list[str], list[str]]:
    """(gloss definitions, supersense labels, splits) of every synset of part of speech `pos`."""
    texts, labels, splits = [], [], []
    for name in POS_FILES[pos]:
        path = folder / name
        if not path.is_file():
            raise DataError(f"WordNet folder {folder} has no {name}; reinstall WordNet 3.0 there")
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or " | " not in line:  # licence header
                continue
            head, _, gloss = line.partition(" | ")
            offset, lex = head.split(" ", 2)[:2]
            text = gloss_definition(gloss)
            if text and 0 <= int(lex) < len(LEXNAMES):
                texts.append(text)
                labels.append(LEXNAMES[int(lex)])
                splits.append(wordnet_split(offset))
    return texts, labels, splits


def wordnet_missing(data_dir: str | None, name: str = "wordnet-supersenses",
                    instead: str = "a ready CSV (columns text,label[,split]): data.path=FILE.csv") -> str:
    where = "\n".join(f"    {p}" for p in wordnet_dirs(data_dir))
    return (f"data set '{name}' needs WordNet 3.0, which was not found.\n"
            f"  Looked in:\n{where}\n"
            "  To get it: `sudo apt-get install wordnet-base` (Debian/Ubuntu), or "
            "`python -m nltk.downloader wordnet`.\n"
            f"  Or give {instead}, or the folder "
            "holding WordNet's data.noun: data.dir=FOLDER.")


# ---------------------------------------------------------------- tokenising


def train_tokenizer(texts: list[str], kind: str, vocab_size: int, lowercase: bool) -> Any:
    """A `tokenizers.Tokenizer` whose vocabulary is learnt from `texts` (the training split)."""
    try:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    except ImportError:
        raise DataError("text data needs the `tokenizers` library: pip install 'gradkit[text]'") from None
    steps = [normalizers.NFD(), normalizers.StripAccents()]
    norm = normalizers.Sequence([*steps, normalizers.Lowercase()] if lowercase else steps)
    special = [PAD, UNK]
    if kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=special)
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special)
    else:
        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special)
    tok.normalizer = norm
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def pretrained_tokenizer(name: str | None, max_length: int) -> Any:
    """The `tokenizers.Tokenizer` behind a pretrained model's own (fast) tokenizer.

    Its JSON then travels in the spec like one we trained, so batching, trimming and saved
    runs work unchanged. Padding and truncation are ours (`encode`), not the JSON's.
    """
    from gradkit.data import pretrained_text as pretrained

    if not name:
        raise DataError("data.tokenizer=pretrained needs data.pretrained=MODEL (a folder, a hub id, "
                        "or minilm); with model.name=bert it is set from model.pretrained")
    hf = pretrained.load("tokenizer", name)
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise DataError(f"the tokenizer of {name} is not a fast (Rust) tokenizer; gradkit needs one "
                        "(a tokenizer.json in the model folder)")
    if hf.pad_token_id != 0:  # our batches pad with 0 and read 0 as padding (BERT's [PAD])
        raise DataError(f"the tokenizer of {name} pads with id {hf.pad_token_id}; gradkit's text "
                        "batches need padding id 0, as the BERT family has")
    limit = getattr(hf, "model_max_length", None) or 10**9
    if max_length > limit:
        raise DataError(f"data.max_length={max_length} exceeds what {name} reads ({limit} tokens); "
                        f"set data.max_length={min(limit, 512)} or less")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(backend.to_str())  # a copy: the cached original keeps its settings
    tok.no_padding()
    tok.no_truncation()
    return tok


@lru_cache(maxsize=4)
def load_tokenizer(serialized: str) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(serialized)


def encode(texts: list[str], spec: DataSpec) -> tuple[torch.Tensor, int]:
    """Texts -> (int64 ids (N, spec.input_shape[0]) padded with 0, number of truncated texts)."""
    if spec.tokenizer is None:
        raise DataError("this run has no tokenizer recorded; it was not trained on text")
    width = spec.input_shape[0]
    tokenizer = load_tokenizer(spec.tokenizer)
    # A pretrained tokenizer wraps each text in special tokens ([CLS] ... [SEP]); a cut text
    # keeps its closing one, as the model saw in pre-training.
    keep_last = tokenizer.post_processor is not None
    encoded = tokenizer.encode_batch([str(t) for t in texts])
    out = torch.zeros((len(texts), width), dtype=torch.int64)
    truncated = 0
    for row, enc in enumerate(encoded):
        ids = enc.ids or [1]  # a text of nothing the vocabulary knows is one [UNK]
        if len(ids) > width:
            truncated += 1
            ids = ids[:width - 1] + ids[-1:] if keep_last else ids[:width]
        out[row, :len(ids)] = torch.tensor(ids)
    return out, truncated


# ---------------------------------------------------------------- building


def build_text_dataset(name: str, texts: list[str], labels: list[str], splits: list[str] | None,
                       cfg: Any, seed: int, source: str, notes: list[str],
                       test_required: bool = True) -> Dataset:
    """Split (as given, else stratified), train the vocabulary on train, encode every split.
    Given splits must name test rows unless `test_required` is False (then there may be none)."""
    if cfg.top_k is not None:
        keep = {lab for lab, _ in Counter(labels).most_common(cfg.top_k)}
        rows = [i for i, lab in enumerate(labels) if lab in keep]
        texts, labels = [texts[i] for i in rows], [labels[i] for i in rows]
        splits = [splits[i] for i in rows] if splits is not None else None
    idx = np.arange(len(texts))
    if splits is not None:
        where = np.array(splits)
        train_idx, val_idx, test_idx = (idx[where == s] for s in SPLITS)
        if not len(test_idx) and test_required:
            raise DataError(f"{source}: the split column names no test rows; mark some rows "
                            "split=test or drop the column for a stratified split")
    else:
        train_idx, val_idx, test_idx = idx, idx[:0], None
    names = sorted(set(labels[i] for i in train_idx))
    index = {lab: k for k, lab in enumerate(names)}
    y_all = np.array([index.get(lab, -1) for lab in labels], dtype=np.int64)
    unknown = sorted({labels[i] for i in idx if y_all[i] < 0})
    if unknown:
        raise DataError(f"{source}: label(s) {', '.join(map(repr, unknown[:5]))} appear outside the "
                        "training split but never in it; a model cannot learn them. Move some of "
                        "those rows to split=train or drop them")
    if test_idx is None:
        keep, held = stratified_split(y_all, cfg.test_fraction, seed)
        train_idx, test_idx = keep, held
    if cfg.limit is not None and cfg.limit < len(train_idx):
        keep, _ = stratified_split(y_all[train_idx], 1 - cfg.limit / len(train_idx), seed)
        train_idx = train_idx[keep]
    if not len(val_idx):
        fit, held = stratified_split(y_all[train_idx], cfg.val_fraction, seed)
        train_idx, val_idx = train_idx[fit], train_idx[held]
    if cfg.tokenizer == "pretrained":
        tokenizer = pretrained_tokenizer(cfg.pretrained, cfg.max_length)
    else:
        tokenizer = train_tokenizer([texts[i] for i in train_idx], cfg.tokenizer, cfg.vocab_size,
                                    cfg.lowercase)
    spec = DataSpec("classification", "text", (cfg.max_length,), len(names), names,
                    vocab_size=tokenizer.get_vocab_size(), tokenizer=tokenizer.to_str())
    parts = {}
    truncated = 0
    for split_name, rows in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        split_texts = [texts[i] for i in rows]
        x, cut = encode(split_texts, spec)
        truncated += cut
        parts[split_name] = Split(x, torch.from_numpy(y_all[rows]), split_texts)
    if truncated:
        notes = [*notes, f"{truncated} text(s) longer than data.max_length={cfg.max_length} "
                         "tokens were truncated"]
    return Dataset(name, spec, parts["train"], parts["val"], parts["test"], source, notes)


@register("text-csv", "classes", "your texts: data.path=FILE.csv, columns text,label[,split]")
def _text_csv(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_text_csv(cfg, seed)


def load_text_csv(cfg: Any, seed: int) -> Dataset:
    if not cfg.path:
        raise DataError("data.name=text-csv needs data.path=FILE.csv with columns text,label "
                        "(and optionally split: train/val/test)")
    texts, labels, splits, notes = read_text_csv(cfg.path)
    file = Path(cfg.path).expanduser()
    return build_text_dataset(file.stem, texts, labels, splits, cfg, seed, str(file), notes)


@register("wordnet-supersenses", "classes",
          "WordNet 3.0 glosses labelled by supersense (82k nouns; apt install wordnet-base)")
def _wordnet_supersenses(cfg: Any, targets: str, seed: int) -> Dataset:
    return load_wordnet_supersenses(cfg, seed)


def load_wordnet_supersenses(cfg: Any, seed: int) -> Dataset:
    """Glosses labelled with their supersense: from data.path (a CSV) or a WordNet installation."""
    if cfg.path:
        texts, labels, splits, notes = read_text_csv(cfg.path)
        source = str(Path(cfg.path).expanduser())
    else:
        folder = find_wordnet(cfg.dir)
        if folder is None:
            raise DataError(wordnet_missing(cfg.dir))
        texts, labels, splits = read_wordnet(folder, cfg.pos)
        notes, source = [], str(folder)
    return build_text_dataset("wordnet-supersenses", texts, labels, splits, cfg, seed, source, notes)

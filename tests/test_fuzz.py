"""Property tests (hypothesis): whatever a user feeds the config parser, the command-line
overrides, the CSV loader or the text loaders, gradkit answers with a result or a GradkitError
carrying a message, never with another exception. What loads must also be sound: resolved
configs survive the run directory's config.yaml round trip, loaded data holds only finite
numbers and every row lands in exactly one split.

Derandomised (fixed examples every run) and kept to a few dozen examples each, for suite time.
"""
import csv
import string

import pytest
import torch
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings, strategies as st  # noqa: E402

from gradkit import config as C  # noqa: E402
from gradkit import engine
from gradkit.config import DataConfig, OptimConfig, OutputConfig, TaskConfig, TrainConfig  # noqa: E402
from gradkit.data import corpus, tabular, text  # noqa: E402
from gradkit.errors import GradkitError  # noqa: E402

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---------------------------------------------------------------- building blocks

chars = st.characters(blacklist_categories=("Cs",))  # lone surrogates cannot be UTF-8 at all
words = st.text(chars, max_size=12)
NAMES = ["digits-mlp", "fashion-cnn", "iris-mlp", "mlp", "cnn", "digits", "csv", "adam", "sgd",
         "classification", "regression", "auto", "cpu", "val/loss", "fp32", "bf16", "flip"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), words, st.sampled_from(NAMES))
chaos = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(words, inner, max_size=3), max_leaves=6)
# values a config might really hold, so that some configs get past the parser into validation
plausible = st.one_of(st.integers(0, 64), st.floats(0, 1), st.booleans(), st.none(),
                      st.sampled_from(NAMES), st.lists(st.integers(1, 64), max_size=3))
values = st.one_of(plausible, plausible, chaos)
SECTIONS = {"data": DataConfig, "task": TaskConfig, "optim": OptimConfig, "train": TrainConfig,
            "output": OutputConfig}
MODEL_KEYS = ["name", "hidden", "dropout", "activation", "batch_norm", "channels", "blocks",
              "backbone", "weights", "freeze"]


def section(keys: list[str]):
    return st.dictionaries(st.one_of(st.sampled_from(keys), st.sampled_from(keys), words), values,
                           max_size=4)


config_maps = st.fixed_dictionaries({}, optional={
    "base": st.sampled_from(["digits-mlp", "iris-mlp", "nope"]) | values,
    "name": values, "seed": values, "description": values,
    **{name: section(list(schema.model_fields)) | values for name, schema in SECTIONS.items()},
    "model": section(MODEL_KEYS) | values,
    "variants": st.dictionaries(words, section(["model", "output", "name", "train"]) | values, max_size=2),
})
DOTTED = [f"{s}.{k}" for s, schema in SECTIONS.items() for k in schema.model_fields] + \
         [f"model.{k}" for k in MODEL_KEYS] + ["seed", "name", "model", "task", "variants", "data"]
value_texts = st.one_of(plausible.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
                        plausible.map(str), words, chaos.map(lambda v: yaml.safe_dump(v).strip()),
                        st.sampled_from(["[1,2]", "{a: 1}", "1e-3", ".nan", "-.inf", "null", "[", "{",
                                         "1e999", "0x10", "~", "!!python/object:os.system ls", "'",
                                         "a: b: c", "- x"]))
overrides = st.lists(st.one_of(st.builds("{}={}".format, st.sampled_from(DOTTED), value_texts),
                               st.builds("{}={}".format, st.sampled_from(DOTTED), value_texts),
                               st.builds("{}={}".format, words, value_texts), words), max_size=3)


def outcome(make):
    """(message, None) when `make()` fails with a GradkitError (any other exception escapes and
    fails the test); else (None, its result). Hypothesis' statistics count both kinds."""
    try:
        result = make()
    except GradkitError as exc:
        event("gradkit error")
        return str(exc), None
    event("ok")
    return None, result


def round_trip(cfg):
    """The config after the config.yaml round trip that `gradkit train --resume` relies on."""
    return engine.validate(yaml.safe_load(C.dump(cfg)), "round trip")


# ---------------------------------------------------------------- config files and overrides


@FUZZ
@given(raw=config_maps)
def test_any_yaml_config_resolves_or_is_a_config_error(tmp_path, raw):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    message, cfg = outcome(lambda: engine.resolve(file=path))
    assert message.strip() if message is not None else round_trip(cfg) == cfg


@FUZZ
@given(content=st.binary(max_size=200) | st.text(chars, max_size=200).map(str.encode))
def test_any_bytes_as_a_config_file_are_a_config_error_at_worst(tmp_path, content):
    path = tmp_path / "mine.yaml"
    path.write_bytes(content)
    message, cfg = outcome(lambda: engine.resolve(file=path))
    assert message.strip() if message is not None else round_trip(cfg) == cfg


@FUZZ
@given(items=overrides)
def test_any_command_line_overrides_resolve_or_are_a_config_error(items):
    message, cfg = outcome(lambda: engine.resolve("digits-mlp", overrides=items))
    assert message.strip() if message is not None else round_trip(cfg) == cfg


def test_a_folder_or_unreadable_file_as_config_is_a_config_error(tmp_path):
    with pytest.raises(GradkitError, match="is a folder"):
        engine.resolve(file=tmp_path)
    (tmp_path / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(GradkitError, match="not UTF-8 text"):
        engine.resolve(file=tmp_path / "latin.yaml")


# ---------------------------------------------------------------- the CSV loader

numbers = st.one_of(st.integers(-1000, 1000).map(str),
                    st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: f"{f:.4g}"))
junk = st.one_of(st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e39", "-3.5e38", "NA",
                                  "1_000", "0x1F", " 7 ", "1,5", "yes"]), words)


@st.composite
def csv_tables(draw):
    """Mostly well-formed tables with a fault here and there, some chaotic ones."""
    tidy = draw(st.integers(0, 3)) > 0
    width = draw(st.integers(1, 4))
    header = (["a", "b", "c", "y"][-width:] if tidy else
              draw(st.lists(st.sampled_from(["a", "b", "y", ""]) | words, min_size=width, max_size=width)))
    task = draw(st.sampled_from(["classification", "regression"]))
    labels = st.sampled_from(["0", "1", "2"]) if task == "classification" and tidy else numbers
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        row = [draw(junk if draw(st.integers(0, 40 if tidy else 3)) == 0 else numbers)
               for _ in range(width - 1)]
        row.append(draw(junk if draw(st.integers(0, 40 if tidy else 3)) == 0 else labels))
        if draw(st.integers(0, 60)) == 0:  # now and then a ragged row
            row = row[:-1] if draw(st.booleans()) else [*row, "1"]
        rows.append(row)
    target = "y" if tidy else draw(st.sampled_from(header) | words | st.none())
    return header, rows, target, task


@FUZZ
@given(table=csv_tables())
def test_any_csv_table_loads_soundly_or_is_a_data_error(tmp_path, table):
    header, rows, target, task = table
    path = tmp_path / "t.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    message, data = outcome(lambda: tabular.load_csv(str(path), target, task == "classification",
                                                     0.1, 0.2, 0, None))
    if message is not None:
        assert message.strip()
        return
    kept = [r for r in rows if any(c.strip() for c in r)]
    assert len(data.train) + len(data.val) + len(data.test) == len(kept)
    for split in (data.train, data.val, data.test):
        assert torch.isfinite(split.x).all() and (task == "classification" or torch.isfinite(split.y).all())
    assert all(map(torch.isfinite, torch.tensor(data.spec.mean + data.spec.std)))


@FUZZ
@given(content=st.binary(max_size=300))
def test_any_bytes_as_csv_are_a_data_error_at_worst(tmp_path, content):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    message, data = outcome(lambda: tabular.load_csv(str(path), "y", True, 0.1, 0.2, 0, None))
    assert message is None or message.strip()


# ---------------------------------------------------------------- the text loaders


@st.composite
def text_tables(draw):
    """Mostly well-formed text,label[,split] tables with a fault here and there."""
    with_split = draw(st.booleans())
    header = ["text", "label", "split"] if with_split else ["text", "label"]
    if draw(st.integers(0, 10)) == 0:
        header[draw(st.integers(0, len(header) - 1))] = draw(words)
    fault = draw(st.integers(0, 4)) == 0  # a table with faults sprinkled in
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        bad = fault and draw(st.integers(0, 4)) == 0
        text_ = draw(st.text(chars, max_size=40) if bad else st.text(string.ascii_letters + " ", min_size=1, max_size=40)
                     | st.text(chars, min_size=1, max_size=40))
        label = draw(st.sampled_from(["", " ", "x"]) | words if bad else st.sampled_from(["pos", "neg", "neutral"]))
        split = draw(st.sampled_from(["", "dev", "valid", "TEST", "holdout"]) if bad else
                     st.sampled_from(["train", "train", "train", "val", "test"]))
        rows.append([text_, label, *([split] if with_split else [])])
    options = dict(tokenizer=draw(st.sampled_from(["wordpiece", "bpe", "word"])),
                   vocab_size=draw(st.integers(10, 300)), max_length=draw(st.integers(1, 24)),
                   lowercase=draw(st.booleans()), top_k=draw(st.none() | st.integers(2, 4)))
    return header, rows, options


@FUZZ
@given(table=text_tables())
def test_any_text_csv_loads_soundly_or_is_a_data_error(tmp_path, table):
    header, rows, options = table
    path = tmp_path / "texts.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    cfg = DataConfig(name="text-csv", path=str(path), **options)
    message, data = outcome(lambda: text.load_text_csv(cfg, 0))
    if message is not None:
        assert message.strip()
        return
    for split in (data.train, data.val, data.test):
        assert split.x.shape[1] == options["max_length"] and len(split.text) == len(split)
        if len(split):
            assert int(split.x.min()) >= 0 and int(split.x.max()) < data.spec.vocab_size
            assert int(split.y.min()) >= 0 and int(split.y.max()) < data.spec.num_classes


@FUZZ
@given(content=st.binary(max_size=300) | st.text(chars, max_size=300).map(str.encode)
       | st.text(chars, min_size=300, max_size=3000).map(str.encode),
       length=st.integers(1, 40), val=st.floats(0.0, 0.5), test=st.floats(0.01, 0.5))
def test_any_file_as_language_model_text_loads_soundly_or_is_a_data_error(tmp_path, content, length, val, test):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    cfg = DataConfig(name="text-file", path=str(path), max_length=length, val_fraction=val,
                     test_fraction=test)
    message, data = outcome(lambda: corpus.load_text_file(cfg, 0))
    if message is not None:
        assert message.strip()
        return
    for split in (data.train, data.val, data.test):
        assert split.x.shape == split.y.shape and split.x.shape[1:] == (length,)
        assert not len(split) or int(split.x.max()) < data.spec.num_classes

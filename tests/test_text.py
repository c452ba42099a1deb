"""Text: attention and encoder blocks against PyTorch's, padding invariance, text data sets."""
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gradkit as gk
from gradkit.data import DataSpec
from gradkit.data.batches import length_buckets
from gradkit.data.text import read_wordnet
from gradkit.errors import ConfigError, DataError
from gradkit.models import build
from gradkit.models.transformer import EncoderBlock, scaled_dot_product_attention, sinusoidal_positions

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "wordnet_nouns10.csv"
WORDNET = Path("/usr/share/wordnet")


@pytest.fixture
def wordnet_source() -> list[str]:
    """The recipes' data: installed WordNet (.ci/run installs it), else the shared CSV copy."""
    if (WORDNET / "data.noun").is_file():
        return []
    if SHARED_CSV.is_file():
        return [f"data.path={SHARED_CSV}"]
    pytest.skip("neither Debian's wordnet-base nor shared/datasets/wordnet_nouns10.csv is here")


# ---------------------------------------------------------------- oracles


@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_torch(masked):
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 9, 8, dtype=torch.float64) for _ in range(3))
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[1, 5:] = pad[2, 1:] = True
    ours, weights = scaled_dot_product_attention(q, k, v, pad if masked else None)
    mask = ~pad[:, None, None, :] if masked else None  # torch: True = may attend
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 9, dtype=torch.float64))
    if masked:
        assert (weights[1, :, :, 5:] == 0).all()


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_matches_torch_layer(activation):
    torch.manual_seed(0)
    dim, heads, ff = 16, 4, 32
    ours = EncoderBlock(dim, heads, ff, 0.0, activation).double().eval()
    ref = torch.nn.TransformerEncoderLayer(dim, heads, ff, dropout=0.0, activation=activation,
                                           batch_first=True, norm_first=True).double().eval()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(ours.attn.in_proj.weight)
        ref.self_attn.in_proj_bias.copy_(ours.attn.in_proj.bias)
        ref.self_attn.out_proj.weight.copy_(ours.attn.out_proj.weight)
        ref.self_attn.out_proj.bias.copy_(ours.attn.out_proj.bias)
        ref.linear1.weight.copy_(ours.ff[0].weight)
        ref.linear1.bias.copy_(ours.ff[0].bias)
        ref.linear2.weight.copy_(ours.ff[3].weight)
        ref.linear2.bias.copy_(ours.ff[3].bias)
        for a, b in ((ref.norm1, ours.norm1), (ref.norm2, ours.norm2)):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
    x = torch.randn(2, 7, dim, dtype=torch.float64)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 4:] = True
    torch.testing.assert_close(ours(x), ref(x))
    keep = ~pad  # torch may zero padded positions on its fast path: compare the real tokens
    torch.testing.assert_close(ours(x, pad)[keep], ref(x, src_key_padding_mask=pad)[keep])


def test_sinusoidal_positions_formula():
    pe = sinusoidal_positions(50, 16)
    for pos, i in [(0, 0), (3, 2), (17, 5), (49, 7)]:
        angle = pos / 10_000 ** (2 * i / 16)
        assert math.isclose(pe[pos, 2 * i], math.sin(angle), abs_tol=1e-5)
        assert math.isclose(pe[pos, 2 * i + 1], math.cos(angle), abs_tol=1e-5)


@pytest.mark.parametrize("model", [
    {"name": "lstm", "bidirectional": True, "pool": "last"},
    {"name": "gru", "pool": "mean", "layers": 2},
    {"name": "rnn", "pool": "max"},
    {"name": "transformer", "pool": "mean"},
    {"name": "transformer", "pool": "cls", "positions": "learned"},
])
def test_padding_does_not_change_the_output(model):
    """A text padded to 20 tokens gives the output it gives alone: padding is really masked."""
    torch.manual_seed(0)
    spec = DataSpec("classification", "text", (20,), 3, vocab_size=30)
    net = build(model, spec).eval()
    ids = torch.randint(1, 30, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 14, dtype=torch.int64)], dim=1)
    torch.testing.assert_close(net(padded), net(ids), atol=1e-5, rtol=1e-5)


def test_transformer_config_errors():
    with pytest.raises(ConfigError, match="multiple of model.heads"):
        gk.resolve("wordnet-transformer", overrides=["model.dim=100", "model.heads=3"])
    with pytest.raises(ConfigError, match="needs a vocabulary"):
        build({"name": "lstm"}, DataSpec("classification", "text", (20,), 10))
    with pytest.raises(ConfigError, match="text, a series .* or images"):
        build({"name": "lstm"}, DataSpec("classification", "image", (2, 3, 8, 8), 10))


# ---------------------------------------------------------------- batching


def test_length_buckets_group_similar_lengths_deterministically():
    lengths = torch.randint(1, 60, (1000,))
    order = torch.randperm(1000)
    out = length_buckets(order, lengths, 32, seed=3, epoch=2)
    assert sorted(out.tolist()) == list(range(1000))
    assert torch.equal(out, length_buckets(order, lengths, 32, seed=3, epoch=2))
    assert not torch.equal(out, length_buckets(order, lengths, 32, seed=3, epoch=3))
    spread = [int(lengths[b].max() - lengths[b].min()) for b in out.split(32)]
    random_spread = [int(lengths[b].max() - lengths[b].min()) for b in order.split(32)]
    assert np.mean(spread) < np.mean(random_spread) / 5


def test_evaluation_batches_follow_their_order_exactly():
    """Per-example outputs are put back with `order`: batches must come in exactly that order
    (they were bucket-shuffled once there were two full batches, misplacing every prediction)."""
    from gradkit.data.base import Split
    from gradkit.data.batches import Batches

    torch.manual_seed(0)
    x = torch.randint(1, 9, (100, 12)) * (torch.arange(12) < torch.randint(1, 13, (100, 1)))
    spec = DataSpec("classification", "text", (12,), 100, vocab_size=10)
    batches = Batches(Split(x, torch.arange(100)), spec, 16, torch.device("cpu"))
    seen = torch.cat([y for _, y in batches])
    assert torch.equal(seen, batches.order) and not torch.equal(seen, torch.arange(100))


# ---------------------------------------------------------------- data


def write_csv(path, rows, header=("text", "label", "split")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def small_rows():
    rows = []
    for i in range(40):
        rows.append((f"a furry pet animal number {i}", "animal", "train"))
        rows.append((f"a metal tool for work number {i}", "tool", "train"))
    rows += [("a zebra animal", "animal", "test"), ("a hammer tool", "tool", "test")]
    return rows


def test_vocabulary_is_learnt_on_the_training_split_only(tmp_path):
    path = write_csv(tmp_path / "t.csv", small_rows())
    ds = gk.data.load("text-csv", path=path, tokenizer="word", vocab_size=200, val_fraction=0.1)
    from gradkit.data.text import load_tokenizer

    vocab = load_tokenizer(ds.spec.tokenizer).get_vocab()
    assert "furry" in vocab and "zebra" not in vocab and "hammer" not in vocab
    zebra = ds.test.text.index("a zebra animal")
    assert ds.test.x[zebra, 1] == vocab["[UNK]"] and ds.test.x[zebra, 3] == 0
    assert ds.spec.class_names == ["animal", "tool"] and len(ds.test) == 2


def test_text_csv_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="no 'text' column.*did you mean 'txt'"):
        gk.data.load("text-csv", path=write_csv(tmp_path / "a.csv", [("x", "y")], ("txt", "label")))
    bad_split = small_rows() + [("a thing", "tool", "tset")]
    with pytest.raises(DataError, match=r"line 84: split 'tset'.*did you mean 'test'"):
        gk.data.load("text-csv", path=write_csv(tmp_path / "b.csv", bad_split))
    unseen = small_rows() + [("a rose", "plant", "test")]
    with pytest.raises(DataError, match="'plant' appear outside the training split"):
        gk.data.load("text-csv", path=write_csv(tmp_path / "c.csv", unseen))
    (tmp_path / "d.csv").write_bytes(b"text,label\n\xff\xfe bad,x\n")
    with pytest.raises(DataError, match="not UTF-8"):
        gk.data.load("text-csv", path=str(tmp_path / "d.csv"))
    with pytest.raises(DataError, match="needs data.path"):
        gk.data.load("text-csv")


def test_empty_texts_are_skipped_and_counted(tmp_path):
    rows = small_rows() + [("", "tool", "train"), ("  ", "animal", "train")]
    ds = gk.data.load("text-csv", path=write_csv(tmp_path / "t.csv", rows))
    assert any("skipped 2 row(s) with an empty text (lines 84, 85)" in n for n in ds.notes)
    assert len(ds.train) + len(ds.val) == 80


def test_no_split_column_gives_a_stratified_split(tmp_path):
    rows = [(t, lab) for t, lab, _ in small_rows()]
    ds = gk.data.load("text-csv", path=write_csv(tmp_path / "t.csv", rows, ("text", "label")),
                      test_fraction=0.25)
    assert len(ds.test) == 21 and sorted(ds.test.y.tolist()).count(0) in (10, 11)


# sha256 of shared/datasets/wordnet_nouns10.csv, so the check runs where that copy is absent
SHARED_CSV_SHA256 = "9c5c859aee285c22606d4813865c9255d118e098bd41a0cc32d1b3065d3cb2f0"


@pytest.mark.skipif(not (WORDNET / "data.noun").is_file(),
                    reason="needs Debian's wordnet-base (.ci/run installs it)")
def test_wordnet_build_reproduces_the_shared_csv():
    """Our reader of WordNet's files gives exactly the shipped nouns/top-10 CSV, split included."""
    import hashlib
    import io
    from collections import Counter

    texts, labels, splits = read_wordnet(WORDNET, "noun")
    top = {lab for lab, _ in Counter(labels).most_common(10)}
    out = io.StringIO()
    writer = csv.writer(out)  # as shared/datasets/wordnet_supersenses.py writes it
    writer.writerow(["text", "label", "split"])
    writer.writerows(row for row in zip(texts, labels, splits) if row[1] in top)
    assert hashlib.sha256(out.getvalue().encode()).hexdigest() == SHARED_CSV_SHA256
    if SHARED_CSV.is_file():
        assert SHARED_CSV.read_text(encoding="utf-8") == out.getvalue().replace("\r\n", "\n")


def test_wordnet_missing_is_a_clear_message(tmp_path, monkeypatch):
    import gradkit.data.text as text

    monkeypatch.setattr(text, "WORDNET_DIRS", [])
    monkeypatch.delenv("GRADKIT_DATA", raising=False)
    with pytest.raises(DataError, match="(?s)apt-get install wordnet-base.*data.path=FILE.csv"):
        gk.data.load("wordnet-supersenses", dir=str(tmp_path))


# ---------------------------------------------------------------- end to end


def test_transformer_recipe_end_to_end(tmp_path, wordnet_source):
    """Three short epochs on a slice: run directory, TF-IDF baseline, text samples, prediction on strings."""
    run = gk.train("wordnet-transformer", out=tmp_path / "run", verbose=False,
                   overrides=[*wordnet_source, "data.limit=3000", "train.epochs=3",
                              "data.vocab_size=2000", "model.layers=1", "optim.lr=0.003"])
    assert run.metrics["test/accuracy"] > run.metrics["baseline/majority/accuracy"]
    assert 0.5 < run.metrics["baseline/tfidf-logreg/accuracy"] < 1.0
    info = run.dir / "run.json"
    assert "tokenizer" not in info.read_text()  # the vocabulary lives in the checkpoints
    html = (run.dir / "report.html").read_text()
    assert "TF-IDF + logistic regression" in html and "<th>text</th>" in html
    probs = run.predict(["a large wild cat of africa", "a hand tool for driving nails"])
    assert probs.shape == (2, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
    again = gk.load(run.dir)
    np.testing.assert_allclose(again.predict(["a large wild cat of africa"]), probs[:1], atol=1e-5)
    assert again.classify("a person who writes books")[0][0][0].startswith("noun.")
    with pytest.raises(DataError, match="list of strings"):
        run.predict(np.zeros((1, 64)))


@pytest.mark.slow
def test_wordnet_lstm_learns_supersenses(tmp_path, wordnet_source):
    """8,000 training glosses, 5 epochs: the LSTM must clear 0.68 test accuracy.

    The majority class scores 0.18. This configuration measured 0.743 here (TF-IDF + logistic
    regression on the same 7,200 texts: 0.795); the whole recipe reaches 0.884 on the full
    training set (README). 0.68 leaves room for other seeds and CPUs, and is far out of reach
    of a pipeline that scrambles tokens, labels or padding.
    """
    run = gk.train("wordnet-lstm", out=tmp_path / "run", verbose=False,
                   overrides=[*wordnet_source, "data.limit=8000", "train.epochs=5",
                              "optim.lr=0.003"],
                   output={"report": False})
    assert run.metrics["test/accuracy"] >= 0.68, run.metrics


# ---------------------------------------------------------------- named sets from the hub


def test_hub_text_sets_are_read_from_a_local_copy(tmp_path):
    folder = tmp_path / "ag-news"
    folder.mkdir()
    rows = small_rows()
    write_csv(folder / "train.csv", [(t, lab) for t, lab, sp in rows if sp == "train"], ("text", "label"))
    write_csv(folder / "test.csv", [(t, lab) for t, lab, sp in rows if sp == "test"], ("text", "label"))
    ds = gk.data.load("ag-news", dir=str(tmp_path), download=False)
    assert ds.source == str(folder) and ds.spec.class_names == ["animal", "tool"]
    assert len(ds.test) == 2 and len(ds.train) + len(ds.val) == 80


def test_hub_text_sets_offline_say_where_they_looked_and_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # as if not installed
    with pytest.raises(DataError) as err:
        gk.data.load("imdb", dir=str(tmp_path))
    msg = str(err.value)
    assert "data set 'imdb' was not found" in msg and str(tmp_path / "imdb") in msg
    assert "`datasets` is not installed" in msg and "data.name=text-csv data.path=" in msg
    with pytest.raises(DataError, match="Download disabled"):
        gk.data.load("ag-news", dir=str(tmp_path), download=False)

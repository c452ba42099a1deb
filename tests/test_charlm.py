"""Character-level language models: the corpus, causal attention, the task's figures, the n-gram
baselines, sampling, `gradkit sample`, the charlm recipes and a real-data learning check."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import gradkit as gk
from conftest import english_text
from gradkit.cli import app
from gradkit.data import DataSpec
from gradkit.errors import DataError
from gradkit.sampling import continue_ids, encode_prompt, generate
from gradkit.metrics.language import bigram_probs, unigram
from gradkit.models import build
from gradkit.models.transformer import scaled_dot_product_attention
from gradkit.training.loop import better

WORDNET = Path("/usr/share/wordnet")
needs_wordnet = pytest.mark.skipif(not (WORDNET / "data.noun").is_file(),
                                   reason="WordNet not installed: `apt-get install wordnet-base`")


def text_file(tmp_path, text, name="t.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def stream(split):
    """A split's windows back as the id stream they were cut from."""
    return torch.cat([split.x.flatten(), split.y[-1, -1:]])


# ---------------------------------------------------------------- data


def test_split_is_chronological_and_targets_are_shifted_inputs(tmp_path):
    text = english_text()[:6000]
    text = "".join(c for c in text if c in set(text[:4000]))  # no character unseen in training
    ds = gk.data.load("text-file", path=text_file(tmp_path, text), max_length=16,
                      val_fraction=0.1, test_fraction=0.1, lowercase=False)
    assert not ds.notes
    chars = ds.spec.class_names
    n_val = n_test = int(len(text) * 0.1)
    starts = {"train": 0, "val": len(text) - n_val - n_test, "test": len(text) - n_test}
    for name, start in starts.items():
        split = getattr(ds, name)
        decoded = "".join(chars[i] for i in stream(split).tolist())
        # each part is the next stretch of the text; windows drop less than a window at its end
        assert decoded == text[start:start + len(decoded)], name
        assert len(decoded) > (len(text) - n_val - n_test if name == "train" else n_val) - 16
        assert torch.equal(split.y[:, :-1], split.x[:, 1:])  # y is x shifted one on
        assert torch.equal(split.y[:-1, -1], split.x[1:, 0])  # across window boundaries too
    assert ds.spec.task == "language-model" and ds.spec.input_shape == (16,)


def test_vocabulary_comes_from_train_only_and_unknowns_are_counted(tmp_path):
    text = "the cat sat on the mat. " * 40 + "the zzz sat on the mat. "  # z only in the test part
    ds = gk.data.load("text-file", path=text_file(tmp_path, text), max_length=8,
                      val_fraction=0.05, test_fraction=0.1)
    assert "z" not in ds.spec.class_names and "t" in ds.spec.class_names
    assert ds.spec.class_names[:2] == ["[PAD]", "[UNK]"]
    unk_in_test = int((stream(ds.test) == 1).sum())
    assert unk_in_test == 3 and int((stream(ds.train) == 1).sum()) == 0
    assert any("test: 3 character(s) never seen in training read as [UNK]: 'z' x3" in n
               for n in ds.notes)


def test_bad_text_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="text file not found"):
        gk.data.load("text-file", path=str(tmp_path / "missing.txt"))
    with pytest.raises(DataError, match="is empty"):
        gk.data.load("text-file", path=text_file(tmp_path, "  \n"))
    bad = tmp_path / "latin.txt"
    bad.write_bytes("caf".encode() + b"\n" * 3 + "é".encode("latin-1") + b" au lait")
    with pytest.raises(DataError, match=r"not UTF-8: byte 6 \(line 4\) is 0xe9"):
        gk.data.load("text-file", path=str(bad))
    with pytest.raises(DataError, match="too few"):
        gk.data.load("text-file", path=text_file(tmp_path, "short text"), max_length=64)
    with pytest.raises(DataError, match="needs data.path"):
        gk.data.load("text-file")


# ---------------------------------------------------------------- causal attention


@pytest.mark.parametrize("padded", [False, True])
def test_causal_attention_matches_torch(padded):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 4, dtype=torch.float64) for _ in range(3))
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True  # right padding: a real query never reaches it under the causal mask
    ours, weights = scaled_dot_product_attention(q, k, v, pad if padded else None, causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    keep = ~pad if padded else torch.ones(2, 7, dtype=torch.bool)
    torch.testing.assert_close(ours.transpose(1, 2)[keep], ref.transpose(1, 2)[keep])
    assert (weights.triu(1) == 0).all()


@pytest.mark.parametrize("model", [
    {"name": "transformer", "attention": "causal", "head": "many-to-many", "dim": 16, "heads": 2},
    {"name": "transformer", "attention": "causal", "head": "many-to-many", "dim": 16, "heads": 2,
     "positions": "learned", "layers": 3},
    {"name": "lstm", "head": "many-to-many", "hidden": 16},
    {"name": "gru", "head": "many-to-many", "hidden": 16, "layers": 2},
])
def test_changing_a_future_token_never_changes_earlier_outputs(model):
    torch.manual_seed(0)
    spec = DataSpec("language-model", "text", (12,), 30, vocab_size=30)
    net = build(model, spec).eval()
    x = torch.randint(2, 30, (3, 12))
    out = net(x)
    assert out.shape == (3, 12, 30)
    for t in (0, 5, 11):
        changed = x.clone()
        changed[:, t] = (changed[:, t] + 7) % 28 + 2
        after = net(changed)
        torch.testing.assert_close(after[:, :t], out[:, :t])  # the past never sees the future
        assert not torch.allclose(after[:, t], out[:, t])  # but position t does see itself


def test_bidirectional_transformer_does_see_the_future():
    torch.manual_seed(0)
    spec = DataSpec("language-model", "text", (12,), 30, vocab_size=30)
    net = build({"name": "transformer", "head": "many-to-many", "dim": 16, "heads": 2}, spec).eval()
    x = torch.randint(2, 30, (1, 12))
    changed = x.clone()
    changed[0, 9] = 2 if x[0, 9] != 2 else 3
    assert not torch.allclose(net(x)[:, :9], net(changed)[:, :9])


# ---------------------------------------------------------------- figures and baselines


def test_perplexity_and_bits_per_char_follow_the_loss():
    torch.manual_seed(0)
    spec = DataSpec("language-model", "text", (10,), 20, vocab_size=20)
    model = build({"name": "lstm", "head": "many-to-many", "hidden": 8}, spec).eval()
    task = gk.tasks.build(gk.config.TaskConfig(name="language-model"), model, spec)
    x, y = torch.randint(2, 20, (6, 10)), torch.randint(2, 20, (6, 10))
    y[5, 7:] = 0  # padding targets are not counted
    with torch.no_grad():
        task.eval_step((x[:4], y[:4]))
        task.eval_step((x[4:], y[4:]))
        scalars, _ = task.eval_end()
        logits = model(x)
    keep = y != 0
    loss = float(F.cross_entropy(logits[keep], y[keep]))
    assert math.isclose(scalars["loss"], loss, rel_tol=1e-6)
    assert math.isclose(scalars["perplexity"], math.exp(loss), rel_tol=1e-6)
    assert math.isclose(scalars["bits_per_char"], loss / math.log(2), rel_tol=1e-6)
    assert better(1.9, 2.0, "val/bits_per_char") and better(6.0, 7.0, "val/perplexity")
    assert not better(2.1, 2.0, "val/bits_per_char")


def test_ngram_baselines_match_counting_by_hand():
    v = 6
    train = torch.tensor([2, 3, 2, 3, 4, 2, 3, 2, 5, 2])  # a stream of ids
    test = torch.tensor([2, 3, 4, 1, 2, 5, 5])
    uni = unigram(train[1:], v)
    counts = [0, 0, 0, 0, 0, 0]
    for c in train[1:].tolist():
        counts[c] += 1
    expected = [0.0] + [(counts[c] + 1) / (len(train) - 1 + v - 1) for c in range(1, v)]
    torch.testing.assert_close(uni, torch.tensor(expected, dtype=torch.float64))
    got = bigram_probs(train[:-1], train[1:], test[:-1], test[1:], uni)
    pairs = list(zip(train[:-1].tolist(), train[1:].tolist()))
    for p, n, prob in zip(test[:-1].tolist(), test[1:].tolist(), got.tolist()):
        c_p = sum(a == p for a, _ in pairs)
        types = len({b for a, b in pairs if a == p})
        lam = c_p / (c_p + types) if c_p else 0.0
        ml = sum(pair == (p, n) for pair in pairs) / c_p if c_p else 0.0
        assert math.isclose(prob, lam * ml + (1 - lam) * expected[n], rel_tol=1e-9)


# ---------------------------------------------------------------- a tiny trained run


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("charlm")
    path = root / "readme.txt"
    path.write_text(english_text()[:20000], encoding="utf-8")
    return gk.train("charlm-lstm", out=root / "run", verbose=False, overrides=[
        "data.name=text-file", f"data.path={path}", "data.max_length=32", "model.hidden=32",
        "model.embed_dim=16", "train.epochs=1", "train.batch_size=32"])


def test_generate_is_seeded_and_greedy_is_argmax(lm_run):
    a = generate(lm_run, "The ", tokens=40, temperature=0.8, top_k=10, seed=3)
    assert a == generate(lm_run.dir, "The ", tokens=40, temperature=0.8, top_k=10, seed=3)
    assert len(a) == 40 and a != generate(lm_run, "The ", tokens=40, temperature=0.8, top_k=10, seed=4)
    greedy = generate(lm_run, "The ", tokens=15, temperature=0)
    chars = lm_run.spec.class_names
    ids, _ = encode_prompt("The ", chars)
    with torch.no_grad():
        for ch in greedy:
            logits = lm_run.model(torch.tensor([ids[-32:]]))[0, -1]
            logits[:2] = float("-inf")
            assert chars[int(logits.argmax())] == ch
            ids.append(chars.index(ch))
    assert continue_ids(lm_run.model, ids[:4], 3, 32, temperature=0) == ids[4:7]
    with pytest.warns(UserWarning, match="'€' are not in this model's vocabulary"):
        generate(lm_run, "€ The", tokens=5, seed=0)


def test_run_metrics_baselines_and_report(lm_run):
    m = lm_run.metrics
    for key in ("test/bits_per_char", "test/perplexity", "baseline/unigram/bits_per_char",
                "baseline/bigram/bits_per_char"):
        assert math.isfinite(m[key]), key
    assert math.isclose(m["test/perplexity"], math.exp(m["test/loss"]), rel_tol=1e-9)
    html = (lm_run.dir / "report.html").read_text()
    assert '<section id="language-model">' in html and "unigram character model" in html
    assert html.count('class="sample-text"') >= 4  # model and test text for 2+ prompts


def test_cli_sample(lm_run):
    runner = CliRunner()
    args = ["sample", str(lm_run.dir), "--prompt", "The ", "--tokens", "30", "--seed", "1", "--top-k", "5"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output and first.output.startswith("The ")
    out = runner.invoke(app, ["sample", str(lm_run.dir), "--prompt", "☃", "--tokens", "5"])
    assert out.exit_code == 0 and "read as [UNK]" in out.output
    out = runner.invoke(app, ["sample", str(lm_run.dir), "--temperature", "-1"])
    assert out.exit_code == 2 and "temperature must be 0" in out.output
    assert "greedy" in runner.invoke(app, ["sample", "--help"]).output


def test_cli_sample_refuses_a_classification_run(tmp_path):
    run = gk.train("iris-mlp", out=tmp_path / "iris", verbose=False, train={"epochs": 1},
                   output={"report": False})
    out = CliRunner().invoke(app, ["sample", str(run.dir), "--prompt", "a"])
    assert out.exit_code == 2
    assert "does not support task 'classification'" in " ".join(out.output.split())


# ---------------------------------------------------------------- recipes on real data


@needs_wordnet
@pytest.mark.parametrize("recipe", ["charlm-lstm", "charlm-transformer"])
def test_recipe_smoke(recipe, tmp_path):
    run = gk.train(recipe, out=tmp_path / recipe, verbose=False,
                   overrides=["data.limit=60", "train.epochs=1", "train.eval_batch_size=256"])
    assert run.metrics["test/bits_per_char"] > 0
    assert '<section id="language-model">' in (run.dir / "report.html").read_text()
    assert gk.load(run.dir).spec.class_names == run.spec.class_names


@needs_wordnet
def test_lstm_learns_wordnet_glosses_beyond_letter_frequencies(tmp_path):
    """~140k characters of glosses, 2 epochs of 250 small steps: well past the n-gram baselines.

    The unigram (letter frequencies alone) sits at ~4.4 bits/char and the bigram (letter
    pairs) at ~3.6. Requiring 0.8 bits below the unigram and any margin below the bigram fails
    a model that learnt only frequencies, or one fed targets not shifted from its inputs
    (which would score near 0 on train but not on held-out text).
    """
    run = gk.train("charlm-lstm", out=tmp_path / "real", verbose=False, overrides=[
        "data.limit=2000", "data.max_length=64", "model.hidden=128", "model.embed_dim=32",
        "train.epochs=2", "train.batch_size=16", "output.report=false"])
    m = run.metrics
    assert m["test/bits_per_char"] < m["baseline/unigram/bits_per_char"] - 0.8, m
    assert m["test/bits_per_char"] < m["baseline/bigram/bits_per_char"], m

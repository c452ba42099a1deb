"""The text report's extras: top confusions with example texts, Transformer attention heat maps.

One tiny Transformer run (1 epoch on a synthetic 3-class CSV whose test texts mix two classes'
words, so there are confusions) serves every test; the oracles re-predict the test texts
through the saved model, independently of the test pass the artifacts were chosen from.
"""
import csv
import json
import random
import shutil
from collections import Counter

import numpy as np
import pytest
import torch

import gradkit as gk
from gradkit.artifacts.inspection import attention_examples, confusion_pairs
from gradkit.data.text import encode
from gradkit.report import build_report

WORDS = {"animal": "furry pet animal wild fur paws tail",
         "plant": "green plant leaf flower root stem seed",
         "tool": "metal tool work steel blade handle nail"}


def synthetic_rows() -> list[tuple[str, str, str]]:
    rng = random.Random(0)
    rows = []
    for i in range(30):
        for label, words in WORDS.items():
            rows.append((" ".join(rng.sample(words.split(), 4)) + f" number {i}", label, "train"))
    for _ in range(30):  # mixed with another class's words; 2 to 6 words, so batches get sorted
        a, b = rng.sample(sorted(WORDS), 2)  # by length and the shorter texts padded
        words = rng.sample(WORDS[a].split(), rng.randint(1, 3)) + rng.sample(WORDS[b].split(),
                                                                              rng.randint(1, 3))
        rows.append((" ".join(words), a, "test"))
    return rows


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """(run, test texts, test labels) of a 1-epoch Transformer with pool=cls on the CSV."""
    root = tmp_path_factory.mktemp("textreport")
    rows = synthetic_rows()
    with open(root / "t.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "label", "split"), *rows])
    run = gk.train("wordnet-transformer", out=root / "run", verbose=False, overrides=[
        "data.name=text-csv", f"data.path={root / 't.csv'}", "data.tokenizer=word",
        "data.vocab_size=200", "data.max_length=16", "train.epochs=1", "train.threads=1",
        "model.dim=32", "model.heads=2", "model.ff_dim=64", "model.pool=cls",
        "train.batch_size=8", "optim.lr=0.01",  # 10 steps: predictions spread over the classes
        "train.eval_batch_size=8"])  # several test batches, sorted by length: the order is undone
    names = sorted(WORDS)
    test = [(text, names.index(label)) for text, label, split in rows if split == "test"]
    return run, [t for t, _ in test], [y for _, y in test]


def test_confusions_match_an_independent_confusion_matrix(text_run):
    run, texts, y = text_run
    saved = json.loads((run.dir / "artifacts" / "confusions.json").read_text())
    prob = run.predict(texts)  # the oracle: the best checkpoint on the raw test strings
    pred = prob.argmax(1)
    counts = Counter((t, int(p)) for t, p in zip(y, pred) if t != p)
    expected = sorted(((t, p, c) for (t, p), c in counts.items()), key=lambda r: (-r[2], r[0], r[1]))
    assert expected and len(set(pred)) > 1, "no confusions, or one class predicted: a weak oracle"
    assert [(p["true"], p["pred"], p["count"]) for p in saved["pairs"]] == expected[:5]
    assert saved["misclassified"] == sum(counts.values()) and saved["test_examples"] == len(y)
    cm = np.array(json.loads((run.dir / "artifacts" / "test_details.json").read_text())
                  ["confusion_matrix"])
    for pair in saved["pairs"]:
        assert cm[pair["true"], pair["pred"]] == pair["count"]
        assert 1 <= len(pair["examples"]) <= min(3, pair["count"])
        for ex in pair["examples"]:  # each example really is that confusion
            i = ex["index"]
            assert ex["text"] == texts[i] and y[i] == pair["true"] and pred[i] == pair["pred"]
            assert ex["prob_pred"] == pytest.approx(prob[i, pair["pred"]], abs=1e-4)
            assert ex["prob_true"] == pytest.approx(prob[i, pair["true"]], abs=1e-4)


def test_attention_rows_sum_to_one_over_real_tokens(text_run):
    run, texts, _ = text_run
    with np.load(run.dir / "artifacts" / "attention.npz", allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    e, layers, heads, width, _ = a["weights"].shape
    assert (e, layers, heads) == (4, 2, 2) and a["tokens"].shape == (4, width)
    model = run.model.eval()
    for k in range(e):
        n, w = int(a["length"][k]), a["weights"][k]
        tokens = list(a["tokens"][k, :n])
        assert tokens[0] == "[CLS]" and tokens[1:] == texts[a["index"][k]].split()
        assert (a["tokens"][k, n:] == "").all() and a["text"][k] == texts[a["index"][k]]
        np.testing.assert_allclose(w[:, :, :n, :n].sum(-1), 1.0, atol=1e-5)
        assert (w[:, :, n:, :] == 0).all() and (w[:, :, :, n:] == 0).all()
        # the same text alone, unpadded, through the saved model gives the same attention
        ids = encode([texts[a["index"][k]]], run.spec)[0][:, : n - 1]
        model.record_attention = True
        with torch.no_grad():
            model(ids)
        model.record_attention = False
        alone = torch.stack(model.attention_weights(), 1)[0].numpy()  # (layers, heads, n, n)
        np.testing.assert_allclose(w[:, :, :n, :n], alone, atol=1e-5)


def test_attention_without_cls_starts_at_the_first_word(text_run, tmp_path):
    """pool=mean has no [CLS] position; an untrained model, called directly, is enough."""
    from gradkit.data import DataSpec
    from gradkit.data.base import Dataset, Split
    from gradkit.artifacts.inspection import write_attention
    from gradkit.models import build
    from gradkit.rundir import RunDir

    run, texts, y = text_run
    spec = DataSpec.from_dict(run.spec.to_dict())
    test = Split(encode(texts, spec)[0], torch.tensor(y), texts)
    data = Dataset("t", spec, test, test, test, "synthetic", [])
    torch.manual_seed(0)
    model = build({"name": "transformer", "pool": "mean", "dim": 16, "heads": 4, "layers": 3}, spec)
    pred = torch.zeros(len(y), dtype=torch.int64)
    write_attention(model, data, RunDir(tmp_path), torch.device("cpu"), pred)
    with np.load(tmp_path / "artifacts" / "attention.npz", allow_pickle=False) as a:
        assert a["weights"].shape[1:3] == (3, 4) and not model.record_attention
        for k in range(len(a["index"])):
            n = int(a["length"][k])
            assert list(a["tokens"][k, :n]) == texts[a["index"][k]].split()
            np.testing.assert_allclose(a["weights"][k, :, :, :n, :n].sum(-1), 1.0, atol=1e-5)
            assert (a["weights"][k, :, :, n:] == 0).all()


def test_report_shows_confusions_and_attention(text_run):
    run, texts, _ = text_run
    html = (run.dir / "report.html").read_text()
    confusions = html[html.index('id="top-confusions"'):html.index("Per-class results")]
    first = json.loads((run.dir / "artifacts" / "confusions.json").read_text())["pairs"][0]
    assert first["examples"][0]["text"] in confusions and "share of true class" in confusions
    attention = html[html.index('id="attention"'):]
    assert attention.count("<img") == 4 and "[CLS]" in attention
    assert html.index('id="confusion-matrix"') < html.index('id="top-confusions"')


@pytest.mark.parametrize("damage, message", [
    ({"confusions.json": None, "attention.npz": None}, "is missing"),
    ({"confusions.json": b"{not json", "attention.npz": b"PK\x03\x04 broken"}, "could not be read"),
    ({"confusions.json": b'{"pairs": [{"true": 0}]}', "attention.npz": "wrong-shape"}, "is malformed"),
])
def test_damaged_artifacts_shrink_the_report_to_a_note(text_run, tmp_path, damage, message):
    run_dir = shutil.copytree(text_run[0].dir, tmp_path / "run")
    for name, content in damage.items():
        path = run_dir / "artifacts" / name
        if content is None:
            path.unlink()
        elif content == "wrong-shape":
            np.savez(path, tokens=np.array([["a"]]), length=np.array([1]), weights=np.ones((1, 3)))
        else:
            path.write_bytes(content)
    html = build_report(run_dir).read_text()
    assert "No top confusions: artifacts/confusions.json " + message in html
    assert "No attention maps: artifacts/attention.npz " + message in html
    assert 'id="confusion-matrix"' in html and "Sample test predictions" in html


def test_other_models_have_no_attention_section(text_run, tmp_path):
    run_dir = shutil.copytree(text_run[0].dir, tmp_path / "run")
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("name: transformer", "name: lstm"))
    html = build_report(run_dir).read_text()
    assert 'id="top-confusions"' in html and "<h3>Attention</h3>" not in html


def test_confusion_pairs_order_and_ties():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([1, 1, 0, 0, 2, 0, 0, 1, 2])
    assert confusion_pairs(y, pred) == [(0, 1, 2), (2, 0, 2), (1, 0, 1), (1, 2, 1), (2, 1, 1)]
    assert confusion_pairs(y, pred, k=1) == [(0, 1, 2)] and confusion_pairs(y, y) == []


def test_attention_examples_prefer_short_texts_half_of_them_wrong():
    lengths = torch.tensor([30, 5, 6, 2, 7, 8, 9, 10])
    wrong = torch.tensor([True, True, False, True, True, True, False, False])
    assert attention_examples(lengths, wrong).tolist() == [1, 2, 4, 6]  # not 0 (long) nor 3 (short)
    assert attention_examples(torch.tensor([40, 50]), torch.tensor([True, False])).tolist() == [0, 1]

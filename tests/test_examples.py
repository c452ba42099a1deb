"""The example notebooks (examples/*.ipynb) run top to bottom on a real Jupyter kernel, quickly
(GRADKIT_EXAMPLE_QUICK=1: an epoch or two on a slice of the data), without an error in any
cell's output; examples/README.md's line counts are the notebooks' own."""
import os
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")


def test_every_article_has_a_notebook():
    assert {p.stem for p in NOTEBOOKS} >= {"keras_mnist_mlp", "pytorch_simplenn", "cnn", "lstm_series",
                                           "bert_finetune", "gan", "autoencoder", "dqn_cartpole",
                                           "transfer_learning"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path, tmp_path, monkeypatch):
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (.ci/run installs it)")
    monkeypatch.setenv("GRADKIT_EXAMPLE_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [(i, out.get("ename"), out.get("evalue")) for i, cell in enumerate(book.cells)
              if cell.cell_type == "code" for out in cell.get("outputs", [])
              if out.get("output_type") == "error" or (out.get("name") == "stderr"
                                                       and "Traceback" in out.get("text", ""))]
    assert not errors, errors
    shown = [out for cell in book.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert shown, "the notebook printed nothing"
    if path.stem == "keras_mnist_mlp":  # a run renders itself, and training drew a progress bar
        html = " ".join(str(out.get("data", {}).get("text/html", "")) for out in shown)
        assert 'class="gk-run"' in html and "test/accuracy" in html and "report.html" in html
        assert "<progress" in html


def test_the_readme_counts_are_the_notebooks():
    sys.path.insert(0, str(EXAMPLES))
    try:
        from line_counts import table
    finally:
        sys.path.pop(0)
    assert table() in (EXAMPLES / "README.md").read_text(encoding="utf-8")

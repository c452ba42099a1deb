from __future__ import annotations

from pathlib import Path

import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
GUIDES = Path(__file__).resolve().parents[1] / "docs" / "guides"


def english_text() -> str:
    """Real English prose that is always here: the documentation site's guides, in name order."""
    return "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(GUIDES.glob("*.md")))


def fashion_available() -> bool:
    return (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file()


needs_fashion = pytest.mark.skipif(
    not fashion_available(),
    reason="Fashion-MNIST not installed: `apt-get install dataset-fashion-mnist` (.ci/run does)",
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test runs in its own folder with its own data cache, so nothing leaks between them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GRADKIT_DATA", raising=False)
    monkeypatch.delenv("GRADKIT_CACHE", raising=False)  # reference classifiers (metrics/fid.py)


@pytest.fixture
def stop_after(monkeypatch):
    """`stop_after(n)`: the next training is stopped by a Ctrl-C (KeyboardInterrupt) right after
    epoch n's checkpoints and metrics are written; `stop_after(None)` lets training run again."""
    from gradkit.training import loop

    real = loop._after_epoch

    def arm(epoch: int | None) -> None:
        if epoch is None:
            monkeypatch.setattr(loop, "_after_epoch", real)
            return

        def after(state, record, *rest):
            out = real(state, record, *rest)
            if record["epoch"] == epoch:
                raise KeyboardInterrupt
            return out

        monkeypatch.setattr(loop, "_after_epoch", after)

    return arm

"""How many lines each example's article needed, and how many gradkit needs: the code lines
(not blank, not comments) of the notebook's article cell and of its gradkit cells (the
parameters cell, which only shortens the test suite's runs, is not counted).

    python examples/line_counts.py        # the table in examples/README.md
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent


def code_lines(text: str) -> int:
    lines = [line.strip() for line in text.splitlines()]
    return sum(1 for line in lines if line and not line.startswith(("#", "```")))


def counts(notebook: Path) -> tuple[str, int, int]:
    """(title, article lines, gradkit lines) of one example notebook."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    title = "".join(cells[0]["source"]).splitlines()[0].lstrip("# ")
    tagged = {tag: [c for c in cells if tag in c.get("metadata", {}).get("tags", [])]
              for tag in ("article", "gradkit")}
    article, ours = ("".join("".join(c["source"]) for c in tagged[t]) for t in ("article", "gradkit"))
    return title, code_lines(article), code_lines(ours)


def table() -> str:
    rows = ["| example | the article | gradkit |", "|---|---|---|"]
    for path in sorted(HERE.glob("*.ipynb")):
        title, article, ours = counts(path)
        rows.append(f"| [{title}]({path.name}) | {article} | {ours} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())

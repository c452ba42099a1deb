"""The documentation site: it builds with `mkdocs build --strict` (broken links, missing pages and
failed API references fail), every `gradkit ...` command in its code blocks parses (`--help` of
that subcommand with those options succeeds), every config key it names exists in the schema,
the generated pages are current, and every key of the configuration reference has a description.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradkit import config as C
from gradkit.cli import app
from gradkit.config_doc import config_markdown, sections

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FILE_SUFFIXES = {"csv", "py", "json", "jsonl", "yaml", "yml", "txt", "md", "pt", "pt2", "png", "gz",
                 "safetensors", "noun", "db", "html", "npz", "gif", "onnx", "lock"}


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


def commands() -> list[tuple[str, str]]:
    """(page, command line) for every line of a code block that runs `gradkit`."""
    found = []
    for page in PAGES:
        for block in _blocks(page.read_text(encoding="utf-8")):
            block = re.sub(r"\\\n\s*", " ", block)  # continuation lines
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("gradkit "):
                    found.append((str(page.relative_to(ROOT)), line))
    return found


def _args(line: str) -> list[str]:
    """The arguments after `gradkit`, without the comment, `[optional]` brackets and `&& ...`."""
    line = line.split(" && ", 1)[0]
    tokens = shlex.split(line, comments=True)[1:]
    return [t.strip("[]") for t in tokens if t not in ("...", "[...]")]


def test_the_docs_name_commands_and_the_readme_is_short():
    lines = commands()
    assert len(lines) > 60 and any("README.md" == p for p, _ in lines)
    assert len((ROOT / "README.md").read_bytes()) < 8 * 1024


@pytest.mark.parametrize("page, line", commands())
def test_every_command_in_the_docs_parses(page, line):
    result = CliRunner().invoke(app, [*_args(line), "--help"])
    assert result.exit_code == 0, f"{page}: `{line}` does not parse:\n{result.output}"


def _schema_keys() -> dict[str, set[str]]:
    from gradkit.models import MODELS
    from gradkit.rl import ALGOS

    keys = {"data": C.DataConfig, "task": C.TaskConfig, "optim": C.OptimConfig, "train": C.TrainConfig,
            "output": C.OutputConfig, "federated": C.FederatedConfig}
    out = {name: set(cls.model_fields) for name, cls in keys.items()}
    out["model"] = {"name"} | {k for n in MODELS.names() for k in MODELS.get(n).config.model_fields}
    out["rl"] = {k for n in ALGOS.names() for k in ALGOS.get(n).config.model_fields}
    from gradkit.config.schema import LessonConfig

    out["lesson"] = set(LessonConfig.model_fields)
    return out


def named_keys() -> list[tuple[str, str]]:
    """(page, section.key) for every dotted config key in inline code or a code block."""
    pattern = re.compile(r"(?<![\w./-])(data|model|task|optim|train|output|rl|federated|lesson)\.([a-z_]+)\b(?![./-]\w)")
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        # a block that shows a config mistake and its error names wrong keys on purpose
        blocks = [b for b in _blocks(text) if "error: invalid config" not in b]
        text = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.S | re.M)
        code = re.findall(r"`([^`\n]+)`", text) + blocks
        for span in code:
            for section, key in pattern.findall(span):
                if key not in FILE_SUFFIXES:
                    found.append((str(page.relative_to(ROOT)), f"{section}.{key}"))
    return sorted(set(found))


def test_every_config_key_the_docs_name_exists():
    schema = _schema_keys()
    named = named_keys()
    assert len(named) > 100
    unknown = [(page, key) for page, key in named if key.split(".", 1)[1] not in schema[key.split(".")[0]]]
    assert not unknown, f"keys the docs name that the schema does not have: {unknown}"


def test_the_configuration_reference_is_generated_and_complete():
    shipped = (ROOT / "docs" / "reference" / "config.md").read_text(encoding="utf-8")
    assert shipped == config_markdown(), "docs/reference/config.md is stale: run `make docs`"
    missing = [row["key"] for _, _, rows in sections() for row in rows if not row["description"]]
    assert not missing, f"keys without a description (write a comment beside the field): {missing}"
    for key in ("data.val_fraction", "model.hidden", "model.pretrained", "optim.lr", "train.epochs",
                "rl.n_steps", "rl.buffer_size", "federated.dp_clip", "output.track"):
        assert f"| `{key}` |" in shipped, key


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra: pip install 'gradkit[docs]' (make test does)")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    for page in ("index.html", "getting-started.html", "guides/rl.html", "reference/config.html",
                 "reference/api.html", "examples/cnn.html", "benchmarks.html"):
        assert (site / page).is_file(), page
    api = (site / "reference" / "api.html").read_text(encoding="utf-8")
    assert "gradkit.api.fit" in api and "Raises" in api  # rendered from the docstrings
    assert "fashion-cnn" in (site / "benchmarks.html").read_text(encoding="utf-8")  # RESULTS.md included
    assert "import gradkit as gk" in (site / "examples" / "cnn.html").read_text(encoding="utf-8")


def test_gradkit_docs_says_where_the_site_is_or_how_to_build_it(tmp_path):
    result = CliRunner().invoke(app, ["docs", "--site", str(tmp_path)])
    assert result.exit_code == 2 and "make docs" in result.output and "Traceback" not in result.output
    (tmp_path / "index.html").write_text("<html></html>")
    result = CliRunner().invoke(app, ["docs", "--site", str(tmp_path)])
    assert result.exit_code == 0 and (tmp_path / "index.html").as_uri() in result.output.replace("\n", "")

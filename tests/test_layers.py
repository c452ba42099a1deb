"""The import graph keeps the layers of docs/architecture.md: every import inside gradkit goes
down (or sideways between packages of one layer without a circle), also the ones inside
functions. Parsed from the sources (ast), so it sees imports that never ran in this process.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# docs/architecture.md's layers, lowest first. A module belongs to the first entry its dotted
# name starts with (a package: the package and everything in it).
LAYERS: dict[str, tuple[str, ...]] = {
    "leaves": ("gradkit.errors", "gradkit.registry", "gradkit.version", "gradkit.config",
               "gradkit.sources", "gradkit.rundir", "gradkit.checkpoint", "gradkit.listing"),
    "parts": ("gradkit.data", "gradkit.models", "gradkit.tasks", "gradkit.training",
              "gradkit.metrics", "gradkit.report", "gradkit.track", "gradkit.rl",
              "gradkit.artifacts"),
    "engine": ("gradkit.engine",),
    "capabilities": ("gradkit.variants", "gradkit.tune", "gradkit.federated",
                     "gradkit.distributed", "gradkit.explain", "gradkit.export", "gradkit.serve",
                     "gradkit.sampling", "gradkit.embeddings", "gradkit.doctor", "gradkit.recipes_doc",
                     "gradkit.lessons", "gradkit.config_doc"),
    "face": ("gradkit.api", "gradkit.cli", "gradkit.__main__"),
}
ORDER = list(LAYERS)
FACE_ONLY = "gradkit.api"  # nothing below the face imports it
ROOT = "gradkit"  # the package's __init__: the public names, lazily (face)


def modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "gradkit").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST):
    """Every import node, inside functions too, except `if TYPE_CHECKING:` blocks (annotations
    only: they never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports() -> dict[str, set[str]]:
    """module -> the gradkit modules it imports (a name imported from a package that is itself
    a module counts as that module)."""
    mods = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix
                           for a in node.names]
            for target in targets:
                if target == ROOT or target.startswith(ROOT + "."):
                    while target not in mods and "." in target:
                        target = target.rsplit(".", 1)[0]
                    if target != mod:
                        edges[mod].add(target)
    return edges


def layer(mod: str) -> str:
    for name, prefixes in LAYERS.items():
        if any(mod == p or mod.startswith(p + ".") for p in prefixes):
            return name
    if mod == ROOT:
        return "face"
    raise AssertionError(f"{mod} belongs to no layer: add it to docs/architecture.md and LAYERS")


def package(mod: str) -> str:
    """gradkit.data.text -> gradkit.data; a top-level module is its own package."""
    return ".".join(mod.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    assert all(layer(mod) in ORDER for mod in modules())  # layer() names a module without one


def test_imports_go_down_the_layers():
    wrong = []
    for mod, targets in imports().items():
        for target in targets:
            if target == ROOT:
                continue  # `import gradkit.x` runs the root __init__, which imports nothing
            if ORDER.index(layer(target)) > ORDER.index(layer(mod)):
                wrong.append(f"{mod} ({layer(mod)}) imports {target} ({layer(target)})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_only_the_face_imports_the_api():
    users = sorted(m for m, targets in imports().items() if FACE_ONLY in targets
                   and not (m == ROOT or m.startswith("gradkit.cli")))
    assert not users, f"{users} import {FACE_ONLY}; ask gradkit.engine instead"


def test_no_import_circle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, targets in imports().items():
        for target in targets:
            if package(target) != package(mod) and target != ROOT:
                graph[package(mod)].add(package(target))
    assert not cycles(graph), f"packages import each other in a circle: {cycles(graph)}"


def test_no_import_circle_between_modules():
    """Within a package too, except a package's __init__ importing its modules to register them."""
    graph = {m: {t for t in targets if t != ROOT} for m, targets in imports().items()}
    for mod, targets in graph.items():  # drop the registration edges: __init__ -> its own modules
        graph[mod] = {t for t in targets if not t.startswith(mod + ".")}
    assert not cycles(graph), f"modules import each other in a circle: {cycles(graph)}"


def test_config_is_a_leaf():
    """The config package knows the schema and how to read it, not what is registered: it
    imports nothing of gradkit but its own modules and the errors."""
    wrong = {m: sorted(t for t in targets if package(t) not in ("gradkit.config", "gradkit.errors"))
             for m, targets in imports().items() if package(m) == "gradkit.config"}
    assert not any(wrong.values()), wrong


def test_no_private_name_crosses_a_package():
    """`from gradkit.x import _name` only within package x."""
    wrong = []
    for mod, path in modules().items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level:
                continue
            if not (node.module or "").startswith(ROOT):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") \
                        and package(node.module) != package(mod):
                    wrong.append(f"{mod}: from {node.module} import {alias.name}")
    assert not wrong, wrong


def test_modules_stay_under_400_lines():
    long = {m: n for m, p in modules().items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"


def test_the_report_never_imports_torch():
    """Importing gradkit.report (all of it) in a fresh interpreter leaves torch unimported:
    a report is built from files alone."""
    code = ("import sys, pkgutil, importlib, gradkit.report as r\n"
            "for m in pkgutil.walk_packages(r.__path__, 'gradkit.report.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in ('torch', 'torchvision', 'torchmetrics') if m in sys.modules]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing gradkit.report imported {out.stdout.strip()}"


@pytest.mark.parametrize("pattern", ["task ==", "task !=", "task in (", "task not in", "task in GENERATIVE"])
def test_no_task_name_branches_outside_the_tasks(pattern):
    """What a task does is the task's: no module outside gradkit/tasks compares a task's name."""
    wrong = [f"{p.relative_to(SRC)}:{i}" for p in (SRC / "gradkit").rglob("*.py")
             if "tasks" not in p.relative_to(SRC / "gradkit").parts
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
             if pattern in line.split("#")[0]]
    assert not wrong, f"task-name branches ({pattern!r}) outside gradkit/tasks: {wrong}"

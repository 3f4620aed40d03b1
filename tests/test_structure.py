"""The package's shape: the library never imports its apps, and its modules import no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAG = ROOT / "rag"


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, as written."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_the_library_never_imports_its_apps():
    offenders = {
        module_name(p): sorted(m for m in imports_of(p) if m.split(".")[0] in ("ui", "bench"))
        for p in RAG.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_library_modules_import_no_cycle():
    graph = {}
    for p in RAG.rglob("*.py"):
        mods = {m for m in imports_of(p) if m.startswith("rag.")}
        graph[module_name(p)] = {m for m in mods if m != module_name(p)}
    # rag.answer's names are lazy (its __init__ imports nothing), so it is no hub of a cycle
    graph["rag.answer"] = set()

    cycles = []

    def visit(node, stack, on_stack, done):
        on_stack.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in done and nxt in graph:
                visit(nxt, stack, on_stack, done)
        on_stack.discard(node)
        stack.pop()
        done.add(node)

    done: set[str] = set()
    for node in sorted(graph):
        if node not in done:
            visit(node, [], set(), done)
    assert cycles == []


def test_the_apps_commands_register_through_entry_points():
    code = (
        "import sys; import rag.chatbot, rag.evaluation, rag.train;"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('ui', 'bench')];"
        "from rag.cli import app;"
        "print(sorted(c.name or c.callback.__name__ for c in app.registered_commands))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "'chat'" in out.stdout and "'bench'" in out.stdout

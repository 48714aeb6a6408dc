"""Every module of Concord's own Python reads in one sitting, every function on one screen.

A module over 600 lines, or a function or method over 80 (from its `def` line to its last
line, as `ast` counts them; nested functions count on their own too), fails the test,
which names each one with its size. The files are the repository's own Python: what
git tracks or would add (tests and bench included), without migrations (Django writes
them); outside a git checkout, a walk that skips the virtualenv, node_modules and
migrations.

Split a module by subject into a package or sibling modules (as `tests/ledger/` splits
the action tests into payments, requests, holds, events and rewards), a function into
well-named steps; never raise the bounds.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
SKIPPED_DIRS = {".venv", "venv", "node_modules", "migrations", ".git", "__pycache__"}


def our_python_files() -> list[Path]:
    """The repository's own .py files, migrations aside."""
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    else:
        paths = list(ROOT.rglob("*.py"))
    return sorted(
        path
        for path in paths
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
    )


def functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, lines) of every function and method in `tree`, nested ones too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{node.name}"
            yield name, node.end_lineno - node.lineno + 1
            yield from functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        else:
            yield from functions(node, prefix)


def oversized() -> tuple[list[str], list[str]]:
    """The modules over MAX_MODULE_LINES and the functions over MAX_FUNCTION_LINES."""
    modules, long_functions = [], []
    for path in our_python_files():
        source = path.read_text()
        where = path.relative_to(ROOT).as_posix()
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            modules.append(f"{where}: {lines} lines")
        for name, size in functions(ast.parse(source, where)):
            if size > MAX_FUNCTION_LINES:
                long_functions.append(f"{where}::{name}: {size} lines")
    return modules, long_functions


def test_the_scan_reads_our_code():
    names = {path.relative_to(ROOT).as_posix() for path in our_python_files()}
    assert {"manage.py", "ledger/actions.py", "tests/test_sizes.py"} <= names
    assert not any("/migrations/" in name or name.startswith(".venv/") for name in names)


def test_the_scan_counts_nested_functions_and_methods():
    tree = ast.parse(
        "class A:\n    def m(self):\n        def inner():\n            pass\n        return 1\n"
    )
    assert list(functions(tree)) == [("A.m", 4), ("A.m.inner", 2)]


def test_no_module_over_600_lines():
    modules, _ = oversized()
    assert not modules, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(modules)


def test_no_function_over_80_lines():
    _, long_functions = oversized()
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(
        long_functions
    )

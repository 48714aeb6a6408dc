"""No import cycle between Concord's own modules.

A cycle hidden behind an import inside a function (`def f(): from x import y`) still
ties two modules together, and hoisting that import is what then breaks start-up. So
the graph here has an edge for every import, at module level or inside a function (and
under `if TYPE_CHECKING:`), read from the source with `ast`: nothing is imported. A
cycle fails the test, which names its modules and the lines that import each other.

Break a cycle by moving what both sides share down a layer (as `config.db` holds the
database helpers every app's actions use), or by passing the higher layer's function
in (as `ledger.posting.post` takes `grant`), never by moving an import into a function.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "accounts",
    "analytics",
    "api",
    "config",
    "dashboard",
    "events",
    "integrity",
    "ledger",
    "narrative",
    "tournaments",
    "ops",
    "payments",
    "tests",
)
# bench/ is a folder of scripts, not a package: each puts bench/ on sys.path and imports
# its siblings by bare name (`from common import ...`).
SCRIPTS = "bench"

# Cycles allowed to stay, each with the reason; none today.
ALLOWED: set[frozenset[str]] = set()


def our_modules() -> dict[str, Path]:
    """Every module of ours, by its dotted name."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in (ROOT / SCRIPTS).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> list[str]:
    """The dotted names `node` may import: a module, or a name inside one."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: from the package that holds `module`
        package = module.split(".")
        package = package[: len(package) - node.level + (path.name == "__init__.py")]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _resolve(name: str, module: str, modules: dict[str, Path]) -> str | None:
    """The module of ours `name` names (the longest one it starts with), if any."""
    if module.startswith(f"{SCRIPTS}.") and name.split(".")[0] not in PACKAGES:
        name = f"{SCRIPTS}.{name}"  # a bench script importing a sibling
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: the line of the first such import}."""
    modules = our_modules()
    graph: dict[str, dict[str, int]] = {module: {} for module in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(node, module, path):
                target = _resolve(name, module, modules)
                if target is not None and target != module:
                    graph[module].setdefault(target, node.lineno)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of modules that reach each other (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def a_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """One cycle through the group's first module, shortest first (breadth-first)."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    cycle = [node]
                    while cycle[-1] != start:
                        cycle.append(came_from[cycle[-1]])
                    return [*reversed(cycle), start]
                if target in members and target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{group} is not a cycle")


def describe(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    modules = our_modules()
    steps = [
        f"  {a} imports {b} ({modules[a].relative_to(ROOT)}:{graph[a][b]})"
        for a, b in itertools.pairwise(cycle)
    ]
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_no_import_cycle_between_our_modules():
    graph = import_graph()
    groups = [g for g in strongly_connected(graph) if frozenset(g) not in ALLOWED]
    assert not groups, "import cycles:\n" + "\n".join(
        describe(graph, a_cycle(graph, group)) for group in groups
    )


# --- the test's own parts ---------------------------------------------------------------


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    # events.publish imports events.log when called (events is imported while the
    # app registry loads, before models can be).
    assert "events.log" in graph["events"]
    assert "config.db" in graph["ledger.posting"]


def test_the_graph_resolves_bench_siblings_and_our_packages():
    graph = import_graph()
    assert "bench.common" in graph["bench.ledger"]
    assert "ledger.actions" in graph["bench.ledger"]


def test_a_cycle_is_found_and_named():
    graph = {
        "a": {"b": 3},
        "b": {"c": 5},
        "c": {"a": 7, "d": 1},
        "d": {},
        "e": {"e": 1},
    }
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]

"""The house's shape: imports flow one way through the layers ``core.LAYERS`` writes down, no module
imports itself back through others (function-level imports and ``importlib`` included), and the study
engine and its families meet only through :mod:`core.study.contract`."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import core

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "dashboard")
CLI = ("__main__", "commands")   # command-line modules sit above every layer
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imported_names(path: Path, name: str, where: str = "anywhere") -> list[tuple[str, int]]:
    """Every module name ``path`` imports with its line: ``import``, ``from ... import`` and
    ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name; ``where`` is
    "anywhere", "top" (run on import: outside functions) or "functions" (inside them)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, FUNCTIONS) for n in ast.walk(f) if n is not f}
    found = []
    for node in runtime_nodes(tree):
        if where != "anywhere" and (id(node) in inside) != (where == "functions"):
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found += [(base, node.lineno)] + [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call) and _dynamic_import(node) and node.args and isinstance(node.args[0],
                                                                                               ast.Constant):
            found.append((str(node.args[0].value), node.lineno))
    return found


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` but the bodies of ``if TYPE_CHECKING:`` (imports for annotations only,
    never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _dynamic_import(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "import_module") or (isinstance(f, ast.Name)
                                                                            and f.id in ("__import__", "import_module"))


def project_graph() -> dict[str, dict[str, int]]:
    """module → {project module it imports: line}."""
    modules = project_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = defaultdict(dict)
    for name, path in modules.items():
        for target, line in imported_names(path, name):
            found = resolve(target)
            if found and found != name and not name.startswith(found + "."):  # a package's own __init__
                graph[name].setdefault(found, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return groups


def room(module: str) -> str:
    """``core.study.engine`` → ``study``; ``core.errors`` → ``errors``; ``core`` → ``core``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_module_imports_itself_back():
    graph = project_graph()
    assert graph["core.study.engine"], "the walker found no imports: it is broken"
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(g) for g in found)


def test_the_walker_sees_function_level_and_importlib_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import importlib\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import core.report\n\n"
                      "def f():\n    from core.study import engine\n"
                      "    return importlib.import_module('core.study.families.mlp')\n")
    names = [n for n, _ in imported_names(module, "m")]
    assert "core.study.engine" in names and "core.study.families.mlp" in names
    assert "core.report" not in names, "an import for annotations only never runs"
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_no_import_by_computed_name():
    """A name built at run time would hide an import (and a cycle) from the walk above."""
    hidden = []
    for path in project_modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _dynamic_import(node) and not (
                    node.args and isinstance(node.args[0], ast.Constant)):
                hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not hidden, f"imports by computed name: {hidden}"


def test_layers_import_only_downwards():
    """Each room of ``core`` imports only rooms of lower layers (``core.LAYERS``, bottom first); the
    command-line modules and the dashboard sit on top."""
    layer = {r: i for i, rooms in enumerate(core.LAYERS) for r in rooms}
    rooms = {room(m) for m in project_modules() if m.startswith("core.")}
    assert rooms == set(layer), f"rooms missing from core.LAYERS or gone: {sorted(rooms ^ set(layer))}"
    upward = []
    for module, targets in project_graph().items():
        if not module.startswith("core.") or module.rpartition(".")[2] in CLI:
            continue
        for target, line in targets.items():
            if target.startswith("dashboard"):
                upward.append(f"{module}:{line} imports the dashboard")
            elif target.startswith("core.") and room(target) != room(module) and layer[room(target)] >= layer[room(module)]:
                upward.append(f"{module}:{line} ({room(module)}) imports {target} ({room(target)})")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


@pytest.mark.parametrize("path", sorted((ROOT / "core" / "study" / "families").glob("*.py")), ids=lambda p: p.name)
def test_families_meet_the_engine_only_through_the_contract(path):
    names = {n for n, _ in imported_names(path, module_name(path))}
    assert not {n for n in names if n == "mlflow" or n.startswith("mlflow.")}, f"{path.name} imports mlflow"
    assert not {n for n in names if n.startswith("core.study.engine")}, f"{path.name} imports the engine"


def test_the_contract_knows_no_family_and_no_engine():
    graph = project_graph()
    assert not [t for t in graph["core.study.contract"] if t.startswith(("core.study.engine", "core.study.families"))]
    contract = ROOT / "core" / "study" / "contract.py"
    assert not [n for n, _ in imported_names(contract, "core.study.contract") if n.split(".")[0] in ("mlflow", "sklearn")], \
        "the contract stays light: spec checks and worker processes import it"
    engine_study_imports = {t for t in graph["core.study.engine"] if t.startswith("core.study.families")}
    assert engine_study_imports == {"core.study.families"}, "the engine looks a family up by name, nothing more"


def test_imports_sit_at_the_top_unless_they_are_heavy():
    """Inside a function only what ``core.DEFERRED`` names, or a project module whose top imports it
    (directly or through other modules' tops); the command-line modules may defer anything."""
    modules = project_modules()
    graph = {name: {t for t, _ in imported_names(path, name, "top")} for name, path in modules.items()}
    heavy: dict[str, bool] = {}

    def is_heavy(target: str, seen: frozenset = frozenset()) -> bool:
        if target.split(".")[0] in core.DEFERRED:
            return True
        module = target
        while module and module not in modules:
            module = module.rpartition(".")[0]
        if not module or module in seen:
            return False
        if module not in heavy:
            heavy[module] = any(is_heavy(t, seen | {module}) for t in graph[module] if t != module)
        return heavy[module]

    light = []
    for name, path in modules.items():
        if name.rpartition(".")[2] in CLI:
            continue
        by_line: dict[int, list[str]] = defaultdict(list)
        for target, line in imported_names(path, name, "functions"):
            by_line[line].append(target)
        for line, targets in by_line.items():  # `from a import b`: module a.b, or names of module a
            if not any(is_heavy(t) for t in targets) and not any(t == name for t in targets):
                light.append(f"{path.relative_to(ROOT)}:{line} imports {max(targets, key=len)}")
    assert not light, "light imports inside functions (move them to the top):\n" + "\n".join(sorted(light))

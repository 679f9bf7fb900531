"""The one-way imports of ARCHITECTURE.md, read from each module's source."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "data": {"web", "ari", "media", "agent", "starlette", "jinja2"},
    "media": {"data", "web", "ari", "agent", "jinja2"},
    "agent": {"data", "web", "ari", "starlette", "jinja2"},
    "ari": {"web", "starlette", "jinja2"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package: str) -> None:
    offences = {
        str(path.relative_to(REPO)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert {k: v for k, v in offences.items() if v} == {}


def test_media_endpoint_is_the_only_starlette_user_in_media() -> None:
    users = [p.name for p in (REPO / "media").glob("*.py") if "starlette" in imported_packages(p)]
    assert users == ["endpoint.py"]


# --- size and cycles (issue 13) ---------------------------------------------------------------------
PRODUCT = ("app.py", "ari", "agent", "media", "web", "data")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60
# Over the limits on this branch and split by another change of issue 13 (agent: the workflow-model
# change; web: routes by resource; data/backup.py: the quality-gate step). Remove each once it fits.
STILL_TOO_BIG: set[str] = set()


def product_modules() -> list[Path]:
    paths: list[Path] = []
    for name in PRODUCT:
        path = REPO / name
        paths.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return paths


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def oversized(path: Path) -> list[str]:
    source = path.read_text()
    found = []
    if (lines := len(source.splitlines())) > MAX_MODULE_LINES:
        found.append(f"{lines} lines")
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name}() {length} lines")
    return found


@pytest.mark.parametrize("relative", [
    pytest.param(str(p.relative_to(REPO)), marks=pytest.mark.xfail(
        reason="split by another change of issue 13", strict=False) if str(p.relative_to(REPO)) in STILL_TOO_BIG
        else ()) for p in product_modules()
])
def test_no_module_over_400_lines_or_function_over_60(relative: str) -> None:
    assert oversized(REPO / relative) == []


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Product modules `path` imports, anywhere in the file (a lazy import is still a dependency)."""
    found: set[str] = set()
    package = module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in candidates if name in known)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node):], node]
        if node in done:
            return None
        visiting.append(node)
        for nxt in sorted(graph.get(node, ())):
            if (cycle := visit(nxt)) is not None:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if (cycle := visit(start)) is not None:
            return cycle
    return None


def import_graph() -> dict[str, set[str]]:
    paths = product_modules()
    known = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, known) - {module_name(p)} for p in paths}


# No package has an import cycle left (agent's went with build_dialog's move to agent.engines).
CYCLES_ELSEWHERE: set[str] = set()


@pytest.mark.parametrize("package", [
    pytest.param(name, marks=pytest.mark.xfail(reason="rewritten by another change of issue 13", strict=False)
                 if name in CYCLES_ELSEWHERE else ()) for name in ("ari", "agent", "media", "web", "data")
])
def test_no_import_cycles_inside_a_package(package: str) -> None:
    graph = {name: {n for n in deps if n.startswith(f"{package}.")}
             for name, deps in import_graph().items() if name.startswith(f"{package}.")}
    assert find_cycle(graph) is None


def test_no_import_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for name, deps in import_graph().items():
        top = name.split(".")[0]
        graph.setdefault(top, set()).update(d.split(".")[0] for d in deps if d.split(".")[0] != top)
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None

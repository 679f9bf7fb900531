"""The route table and how URLs are built: every route is named, names resolve to their own route,
templates and handlers build app URLs from names (no hard-coded paths), and the web layers import
one way (views and api are peers over services)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute

from app import create_app
from web.settings import Settings
from web.state import app_state, running_state

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
WEB = REPO / "web"


@pytest.fixture(scope="module")
def table() -> Starlette:
    return create_app(Settings(db_path=Path("unused.db")), with_ari=False)  # no lifespan: nothing opens


def app_segments(app: Starlette) -> str:
    """First path segments of the app's URLs as a regex alternation: `telephony-configurations|api|…`"""
    segments = {route.path.split("/")[1] for route in app.routes if isinstance(route, Route | WebSocketRoute | Mount)}
    return "|".join(re.escape(s) for s in sorted(segments) if s)


def test_app_state_exists_only_once_the_lifespan_ran(table: Starlette) -> None:
    assert running_state(table) is None
    with pytest.raises(RuntimeError, match="lifespan has not started"):
        app_state(table)


def test_every_route_has_a_unique_name(table: Starlette) -> None:
    names = [str(getattr(route, "name", None) or "") for route in table.routes]
    assert all(names) and len(names) > 70
    assert len(set(names)) == len(names), sorted(n for n in names if names.count(n) > 1)
    for route in table.routes:
        if isinstance(route, Route | WebSocketRoute):
            assert route.path.startswith("/api/") == route.name.startswith("api."), (route.path, route.name)


def test_each_name_builds_its_own_path(table: Starlette) -> None:
    for route in table.routes:
        if isinstance(route, Route | WebSocketRoute):
            params = {name: 7 for name in route.param_convertors}
            expected = re.sub(r"\{\w+(:\w+)?\}", "7", route.path)
            assert table.url_path_for(route.name, **params) == expected
    assert table.url_path_for("static", path="app.css") == "/static/app.css"


def test_templates_build_app_urls_from_route_names(table: Starlette) -> None:
    hard_coded = re.compile(r"""["'(]/(""" + app_segments(table) + r")\b")
    used = re.compile(r"""url_for\(\s*['"]([\w.]+)['"]""")
    names = {route.name for route in table.routes if isinstance(route, Route | WebSocketRoute | Mount)}
    offences, unknown = [], []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        offences += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in hard_coded.finditer(text)]
        unknown += [f"{path.relative_to(REPO)}: {n}" for n in used.findall(text) if n not in names]
    assert offences == [] and unknown == []


def _allowed_constants(tree: ast.Module) -> set[int]:
    """ids of string constants that may spell a path: route tables (`Route(...)`, module-level
    UPPER_CASE names), prefix checks (`.startswith(...)`) and docstrings."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        holders: list[ast.AST] = []
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ("Route", "WebSocketRoute", "Mount", "startswith"):
                holders = [*node.args, *node.keywords]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            holders = [node]
        for holder in holders:
            allowed |= {id(n) for n in ast.walk(holder)}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper()
                                                      for t in statement.targets):
            allowed |= {id(n) for n in ast.walk(statement)}
    return allowed


def test_handlers_build_app_urls_from_route_names(table: Starlette) -> None:
    path = re.compile(r"^/(" + app_segments(table) + r")\b")
    offences = []
    for source in sorted(WEB.rglob("*.py")):
        tree = ast.parse(source.read_text())
        allowed = _allowed_constants(tree)
        offences += [f"{source.relative_to(REPO)}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and path.match(node.value) and id(node) not in allowed]
    assert offences == []


def web_imports(path: Path) -> set[str]:
    """`web.<package>` of every web module `path` imports (`from web import api` counts too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {".".join(name.split(".")[:2]) for name in found if name.startswith("web.")}


@pytest.mark.parametrize("layer, forbidden", [
    ("views", {"web.api"}), ("api", {"web.views"}), ("services", {"web.views", "web.api"}),
])
def test_views_and_api_are_peers_over_services(layer: str, forbidden: set[str]) -> None:
    offences = {}
    for source in sorted((WEB / layer).glob("*.py")):
        offences[source.name] = sorted(web_imports(source) & forbidden)
    assert {k: v for k, v in offences.items() if v} == {}

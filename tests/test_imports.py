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

"""The layout holds: areas in packages, imports one way, no cycles, no view that writes during a GET."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {".venv", "tests", "migrations", "bench", "deploy", "translations", "static", "templates", "instance", "node_modules"}
AREAS = {"cases", "compensation", "reviews", "handoffs", "scoring", "sync"}
TOP_LEVEL_ALLOWED = {"app", "models", "config", "extensions", "live", "timeline", "templating", "spreadsheets", "notify",
                     "scheduler", "charts"}
LOCAL = AREAS | TOP_LEVEL_ALLOWED | {"blueprints", "forms", "demo"}


def app_files():
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] not in SKIPPED:
            yield relative


def module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level_imports(relative: Path) -> set[str]:
    """The local modules a file imports at module level (what decides import order and cycles)."""
    tree = ast.parse((ROOT / relative).read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in LOCAL}


def test_only_the_fixed_and_shared_modules_live_at_the_top():
    top = {path.stem for path in ROOT.glob("*.py")}
    assert top <= TOP_LEVEL_ALLOWED, f"move these into an area package: {sorted(top - TOP_LEVEL_ALLOWED)}"


def test_no_blueprint_imports_another():
    for path in (ROOT / "blueprints").glob("*.py"):
        imported = top_level_imports(path.relative_to(ROOT)) | set(inner_imports(path.relative_to(ROOT)))
        others = {name for name in imported if name.startswith("blueprints") and name not in ("blueprints", "blueprints.common")
                  and not name.startswith("blueprints.common.")}
        assert not others, f"{path.name} imports {sorted(others)}"


def test_area_packages_never_see_a_request_nor_a_view():
    for relative in app_files():
        if relative.parts[0] not in AREAS | {"demo"}:
            continue
        tree = ast.parse((ROOT / relative).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                names = {alias.name for alias in node.names}
                assert not names & {"request", "session", "g", "url_for", "redirect", "flash"}, f"{relative}: {names}"
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("blueprints", "forms")):
                raise AssertionError(f"{relative} imports {node.module}: areas sit below the views")


def test_models_import_no_area_nor_view():
    assert not top_level_imports(Path("models.py")), "models.py is the bottom layer"


def inner_imports(relative: Path) -> list[str]:
    """Imports inside functions or classes (module-level ones are the rule)."""
    tree = ast.parse((ROOT / relative).read_text())
    module_level = set(map(id, tree.body))
    return [getattr(node, "module", None) or node.names[0].name for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in module_level]


def test_imports_sit_at_the_top_of_files():
    inside = {str(relative): inner_imports(relative) for relative in app_files() if inner_imports(relative)}
    assert inside == {}, f"imports inside functions (say which cycle they break, or move them up): {inside}"


def test_no_import_cycle():
    modules = {module_name(relative): relative for relative in app_files()}
    graph = {name: {target for target in top_level_imports(relative) if target in modules} for name, relative in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]):
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " → ".join([*path, node, target]))
            if target not in state:
                visit(target, [*path, node])
        state[node] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [])

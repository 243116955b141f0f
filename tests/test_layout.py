"""The layout's rules, checked over the shipped code (tl_otel/ and exporters/, as installed: tl_otel.exporters):
no import circle between modules, no private name imported from another folder, and no docstring or comment
that points outside what ships."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"tl_otel": ROOT / "tl_otel", "tl_otel.exporters": ROOT / "exporters"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import in the module, at any depth (a function-level
    import is still a dependency)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, []) if submodule in MODULES else (base, [alias.name]))
    return [(module, names) for module, names in found if module in MODULES]


def _folder(module: str) -> Path:
    return MODULES[module].parent


def test_no_import_circle():
    graph = {name: {module for module, _ in _imports(name, path) if module != name} for name, path in MODULES.items()}
    circles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                circles.append([*trail[trail.index(target):], target] if target in trail else [node, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == [], "import circles: " + "; ".join(" -> ".join(circle) for circle in circles)


def test_no_private_name_imported_across_folders():
    crossings = []
    for name, path in MODULES.items():
        for module, names in _imports(name, path):
            private = [item for item in names if item.startswith("_") and not item.startswith("__")]
            if private and _folder(module) != _folder(name):
                crossings.append(f"{name} imports {', '.join(private)} from {module}")
    assert crossings == []


def test_shipped_code_points_only_at_what_ships():
    pointers = [f"{path.relative_to(ROOT)}:{number}" for path in MODULES.values()
                for number, line in enumerate(path.read_text().splitlines(), 1)
                if "shared/" in line or "reference/" in line]
    assert pointers == []


def test_top_level_holds_the_public_surface_and_folders():
    top = sorted(path.name for path in (ROOT / "tl_otel").glob("*.py"))
    assert top == ["__init__.py", "alerts.py", "cli.py"]


def test_readme_and_operations_name_every_folder_and_only_what_exists():
    import re

    folders = sorted(path.parent.name for path in (ROOT / "tl_otel").glob("*/__init__.py"))
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Layout"):readme.index("## Benchmarks")]
    assert [folder for folder in folders if f"{folder}/" not in table] == []
    data_path = (ROOT / "docs" / "operations.md").read_text().split("## Data path", 1)[1].split("```")[1]
    named = re.findall(r"(?:tl_otel|exporters)/[\w/{},.]*", data_path)
    assert named
    missing = []
    for name in named:
        stem, _, choices = name.partition("{")
        options = choices.split("}")[0].split(",") if choices else [""]
        rest = choices.split("}", 1)[1] if choices else ""
        missing += [stem + option + rest for option in options if not (ROOT / (stem + option + rest)).exists()]
    assert missing == []

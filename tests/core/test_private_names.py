"""A name that starts with an underscore is private to its module: production code never reads one from another
module, neither by ``from x import _name`` nor as ``module._name``. What another module needs is made public, or the
caller moves next to it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"])


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _first_party(module: str | None, level: int) -> bool:
    return level > 0 or (module or "").split(".")[0] in (*PACKAGES, "app")


def private_imports(path: Path) -> list[str]:
    """``from <first-party module> import _name`` and ``<first-party module>._name`` in one file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names if _first_party(a.name, 0)}
        elif isinstance(node, ast.ImportFrom) and _first_party(node.module, node.level):
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {alias.name}")
                modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    return found


def production_files() -> list[Path]:
    return [ROOT / "app.py"] + sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_no_module_reads_another_modules_private_names():
    found = [hit for path in production_files() for hit in private_imports(path)]
    assert not found, "private names used across modules (make them public or move the caller):\n" + "\n".join(found)


def test_the_check_finds_a_private_import(tmp_path, monkeypatch):
    """The scan is not vacuous: both spellings are caught, a private name of a library is not."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    sample = tmp_path / "sample.py"
    sample.write_text("from rota.services import _type_of\nfrom rota import services\nimport flask\n"
                      "services._bulk_create()\nflask._app_ctx_stack\n")
    assert private_imports(sample) == ["sample.py:1 from rota.services import _type_of",
                                       "sample.py:4 services._bulk_create"]

"""The architecture is checked, not hoped for: every import-linter contract in pyproject.toml must be kept.

`make test` runs `lint-imports` too; this test makes a plain pytest run catch a broken arrow (function-level imports
count, as they do at run time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_is_kept():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert len(contracts) >= 5
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    report = run.stdout + run.stderr
    broken = [c["name"] for c in contracts if f"{c['name']} KEPT" not in report]
    assert run.returncode == 0 and not broken, f"broken contracts {broken}:\n{report[-4000:]}"


def test_the_rota_core_contract_names_every_module_of_the_rota_core():
    """The layering contract lists the rota core's modules one by one, so a new module there cannot slip past it."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (core,) = [c for c in contracts if c["name"] == "the rota core imports none of the sub-packages built on it"]
    subpackages = {m.split(".")[1] for m in core["forbidden_modules"]}
    rota = ROOT / "rota"
    modules = {f"rota.{p.stem}" for p in rota.glob("*.py") if p.stem != "__init__"}
    modules |= {f"rota.{p.parent.name}" for p in rota.glob("*/__init__.py") if p.parent.name not in subpackages}
    assert modules == set(core["source_modules"])


def _modules_named(stem: str) -> set[str]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
    paths = [p for pkg in packages for p in (ROOT / pkg).rglob(f"{stem}.py")]
    return {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in paths}


def test_the_wiring_and_demo_contracts_name_every_wiring_and_demo_module():
    """Both contracts list their modules one by one, so a new package's wiring or demo code cannot slip past them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["name"]: c for c in config["contracts"]}
    wiring = contracts["nothing imports a wiring module except its package's __init__"]
    demo = contracts["production code never imports demo code (wiring registers seeders)"]
    assert set(wiring["protected_modules"]) == _modules_named("wiring")
    assert set(demo["protected_modules"]) == _modules_named("demo")

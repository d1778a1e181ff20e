"""The functional core loads no shell: importing it pulls in no CLI, web, database or JSON shell.

Checked twice: at run time in a fresh interpreter (what actually lands in sys.modules), and
statically (what any file under src/calcinosis/core names in an import, even in a branch the
run-time check does not reach).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import orjson

import calcinosis.core

CORE_DIR = Path(calcinosis.core.__file__).resolve().parent
SHELLS = (
    "calcinosis.fhir",
    "calcinosis.cli",
    "calcinosis.service",
    "calcinosis.registry",
    "calcinosis.screening",
    "calcinosis.notes",
    "typer",
    "rich",
    "fastapi",
    "httpx",
    "sqlalchemy",
    "duckdb",
    "pyspark",
    "orjson",
)

PROBE = """
import importlib, json, pkgutil, sys
import calcinosis, calcinosis.core
core = [m.name for m in pkgutil.walk_packages(calcinosis.core.__path__, "calcinosis.core.")]
for name in core:
    importlib.import_module(name)
print(json.dumps({"core": core, "loaded": sorted(sys.modules)}))
"""


def is_shell(module: str) -> bool:
    return any(module == shell or module.startswith(shell + ".") for shell in SHELLS)


def test_importing_the_core_loads_no_shell() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert "calcinosis.core.assessment" in report["core"]
    assert [name for name in report["loaded"] if is_shell(name)] == []


def imported_modules(path: Path, core_dir: Path = CORE_DIR) -> list[tuple[int, str]]:
    """Absolute names of everything a file under `core_dir` imports, relative imports resolved."""
    parts = path.relative_to(core_dir.parent).with_suffix("").parts
    package = ".".join(("calcinosis", *parts))
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in IMPORT_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


IMPORT_CALLS = frozenset({"import_module", "__import__"})


def test_no_core_file_imports_a_shell() -> None:
    files = sorted(CORE_DIR.rglob("*.py"))
    assert CORE_DIR / "assessment.py" in files
    offenders = [
        f"{path.relative_to(CORE_DIR.parent)}:{line}: {module}"
        for path in files
        for line, module in imported_modules(path)
        if is_shell(module)
    ]
    assert offenders == []


def test_relative_imports_are_resolved_for_the_static_check(tmp_path: Path) -> None:
    """Guard the guard: `from ..fhir import ingest` inside core must count as calcinosis.fhir."""
    core = tmp_path / "calcinosis" / "core"
    (core / "rules").mkdir(parents=True)
    probe = core / "rules" / "probe.py"
    probe.write_text("from ...fhir import ingest\nfrom .. import case\nimport typer.main\n")
    names = [name for _, name in imported_modules(probe, core)]
    assert names == [
        "calcinosis.fhir",
        "calcinosis.fhir.ingest",
        "calcinosis.core",
        "calcinosis.core.case",
        "typer.main",
    ]
    assert [is_shell(name) for name in names] == [True, True, False, False, True]

"""List test functions that cannot fail: no assert, no pytest.raises/fail/xfail, no check helper.

    python tools/check_tests_assert.py tests [more paths ...]

A test "checks" if its own body (not the bodies of functions or classes defined inside it) holds
an `assert` statement, calls `pytest.raises`, `pytest.fail` or `pytest.xfail` (also when imported
by name or through an alias), or calls a helper whose name starts with `assert_`, `check_` or
`expect_` (e.g. `expect_refused(...)`, `mock.assert_called_once()`). Exit status: 0 when every
test checks something, 1 listing those that do not, 2 for a bad path or a file that does not parse.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

USAGE = "usage: python tools/check_tests_assert.py PATH [PATH ...]"
PYTEST_CHECKS = frozenset({"raises", "fail", "xfail"})
HELPER_PREFIXES = ("assert_", "check_", "expect_")


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    offenders: list[str] = []
    checked = 0
    for root in map(Path, argv):
        if not root.exists():
            print(f"check_tests_assert: {root}: no such file or directory", file=sys.stderr)
            return 2
        for path in _python_files(root):
            try:
                tree = ast.parse(path.read_bytes(), filename=str(path))
            except SyntaxError as exc:
                print(f"check_tests_assert: {path}:{exc.lineno}: {exc.msg}", file=sys.stderr)
                return 2
            aliases = _pytest_aliases(tree)
            for qualname, function in _tests(tree.body, prefix=""):
                checked += 1
                if not _checks_something(function, aliases):
                    offenders.append(f"{path}:{function.lineno}: {qualname}")
    for line in offenders:
        print(f"{line}: no assert, pytest.raises/fail/xfail or assert_/check_/expect_ helper")
    print(f"check_tests_assert: {checked} tests, {len(offenders)} without a check")
    return 1 if offenders else 0


def _python_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _tests(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, Function]]:
    """Module-level and class-level (at any class depth) functions named test_*."""
    for node in body:
        if isinstance(node, Function) and node.name.startswith("test_"):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _tests(node.body, prefix=f"{prefix}{node.name}.")


def _pytest_aliases(tree: ast.Module) -> tuple[frozenset[str], frozenset[str]]:
    """Names bound to the pytest module, and names bound to pytest.raises/fail/xfail."""
    modules: set[str] = set()
    functions: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name == "pytest")
        elif isinstance(node, ast.ImportFrom) and node.module == "pytest":
            functions.update(a.asname or a.name for a in node.names if a.name in PYTEST_CHECKS)
    return frozenset(modules), frozenset(functions)


def _own_nodes(function: Function) -> Iterator[ast.AST]:
    """Every node in the function's body, skipping nested function, lambda and class bodies."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Function | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _checks_something(function: Function, aliases: tuple[frozenset[str], frozenset[str]]) -> bool:
    modules, functions = aliases
    for node in _own_nodes(function):
        if isinstance(node, ast.Assert):
            return True
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name) and func.value.id in modules:
                if func.attr in PYTEST_CHECKS:
                    return True
            elif func.attr.startswith(HELPER_PREFIXES):
                return True
        elif isinstance(func, ast.Name) and (
            func.id in functions or func.id.startswith(HELPER_PREFIXES)
        ):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

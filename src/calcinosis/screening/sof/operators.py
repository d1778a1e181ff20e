"""FHIRPath operators compiled to SQL: and/or/xor/implies, = and !=, <, <=, >, >=, + - * /
div mod and &.

Comparisons use the SQL type the operands are known to have (a literal, a constant, ofType());
two JSON values of unknown types are compared by what they hold at run time. `=` between
collections follows FHIRPath: empty if either is empty, else the same items in the same order.
"""

from __future__ import annotations

from calcinosis.screening.sof.dialects import DEC, INT, STR
from calcinosis.screening.sof.expressions import (
    Expr,
    Scope,
    Shape,
    as_bool,
    as_item,
    as_value,
    kind_of,
)


def binary(op: str, left: Expr, right: Expr, scope: Scope) -> Expr:
    if op in ("and", "or", "xor", "implies"):
        a, b = as_bool(left, scope), as_bool(right, scope)
        sql = {"and": f"({a} AND {b})", "or": f"({a} OR {b})", "xor": f"({a} <> {b})"}
        return Expr(sql.get(op, f"((NOT {a}) OR {b})"), Shape.VALUE, "boolean")
    if op in ("=", "!="):
        equal = _equal(left, right, scope)
        return Expr(equal if op == "=" else f"(NOT {equal})", Shape.VALUE, "boolean")
    if op in ("<", ">", "<=", ">="):
        return Expr(_compare(op, left, right, scope), Shape.VALUE, "boolean")
    if op in ("+", "-", "*", "/", "div", "mod", "&"):
        return _arithmetic(op, left, right, scope)
    raise scope.fail(f"the operator {op!r} is not supported")


def _common_kind(left: Expr, right: Expr) -> str | None:
    kinds = {kind_of(left.type), kind_of(right.type)} - {None}
    if not kinds:
        return None
    if kinds <= {INT, DEC}:
        return DEC if DEC in kinds else INT
    return kinds.pop() if len(kinds) == 1 else STR


def _compare_two(op: str, left: str, right: str, kind: str | None, scope: Scope) -> str:
    """Two single values (JSON items, or SQL values of `kind` when it is known)."""
    if kind is None:
        return f"({scope.dialect.json_compare(op, left, right)})"
    return f"({left} {op} {right})"


def _single(value: Expr, kind: str | None, scope: Scope, what: str) -> str:
    return as_item(value, scope, what) if kind is None else as_value(value, kind, scope, what)


def _compare(op: str, left: Expr, right: Expr, scope: Scope) -> str:
    kind = _common_kind(left, right)
    what = f"the operator {op} needs single values"
    a, b = _single(left, kind, scope, what), _single(right, kind, scope, what)
    return _compare_two(op, a, b, kind, scope)


def _equal(left: Expr, right: Expr, scope: Scope) -> str:
    """FHIRPath `=`: empty if either side is empty, else equal counts and equal items in order."""
    d, env = scope.dialect, scope.env
    kind = _common_kind(left, right)
    if Shape.ITEMS not in (left.shape, right.shape):
        a, b = _single(left, kind, scope, ""), _single(right, kind, scope, "")
        return _compare_two("=", a, b, kind, scope)
    if left.shape is not Shape.ITEMS:
        left, right = right, left

    def item(sql: str) -> str:
        return d.json_to(kind, sql) if kind else sql

    def one(a: str, b: str) -> str:
        test = _compare_two("=", item(d.element(a, "0")), b, kind, scope)
        return (
            f"CASE WHEN {d.length(a)} = 0 OR {b} IS NULL THEN NULL "
            f"WHEN {d.length(a)} > 1 THEN false ELSE {test} END"
        )

    def many(a: str, b: str) -> str:
        x, i = env.var(), env.var()
        same = _compare_two("=", item(x), item(d.lambda_element(b, i)), kind, scope)
        return (
            f"CASE WHEN {d.length(a)} = 0 OR {d.length(b)} = 0 THEN NULL "
            f"WHEN {d.length(a)} <> {d.length(b)} THEN false "
            f"ELSE {d.all_true(d.transform(a, x, same, i))} END"
        )

    if right.shape is not Shape.ITEMS:
        other = _single(right, kind, scope, "")
        return d.let(left.sql, env.var(), lambda a: d.let(other, env.var(), lambda b: one(a, b)))
    return d.let(left.sql, env.var(), lambda a: d.let(right.sql, env.var(), lambda b: many(a, b)))


def _arithmetic(op: str, left: Expr, right: Expr, scope: Scope) -> Expr:
    kind = _common_kind(left, right)
    what = f"the operator {op} needs single values"
    if op == "&" or (op == "+" and kind == STR):
        a, b = as_value(left, STR, scope, what), as_value(right, STR, scope, what)
        if op == "&":
            a, b = f"coalesce({a}, '')", f"coalesce({b}, '')"
        return Expr(f"({a} || {b})", Shape.VALUE, "string")
    kind = INT if kind == INT and op != "/" else DEC
    a, b = as_value(left, kind, scope, what), as_value(right, kind, scope, what)
    if op == "/":
        return Expr(f"({a} / nullif({b}, 0))", Shape.VALUE, "decimal")
    if op == "div":
        quotient = f"({a} / nullif({b}, 0))"  # truncated toward zero
        whole = f"CASE WHEN {quotient} < 0 THEN ceil({quotient}) ELSE floor({quotient}) END"
        sql = f"CAST({whole} AS {scope.dialect.types[INT]})"
        return Expr(sql, Shape.VALUE, "integer")
    if op == "mod":
        return Expr(f"({a} % nullif({b}, 0))", Shape.VALUE, kind)
    return Expr(f"({a} {op} {b})", Shape.VALUE, "integer" if kind == INT else "decimal")
